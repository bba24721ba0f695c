package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// StreamSummary describes what a capture holds for one SSRC.
type StreamSummary struct {
	SSRC        uint32
	PayloadType uint8
	Packets     uint64
	Bytes       uint64
	First, Last time.Duration
	// FirstSeq and LastSeq are unwrapped (extended) sequence numbers.
	FirstSeq, LastSeq int64
	// Gaps counts sequence numbers missing between FirstSeq and LastSeq;
	// Duplicates counts packets whose sequence number was seen before.
	Gaps, Duplicates uint64
	seen             map[int64]struct{}
	maxSeq           int64
}

// Summary is the per-stream account of a whole capture.
type Summary struct {
	Header  Header
	Streams []*StreamSummary // sorted by SSRC
	// Declared are the streams declared after the header, with when.
	Declared    []DeclaredStream
	RTCPPackets uint64
	Records     uint64
	// Torn is set when the capture ends in a damaged record; IntactBytes
	// is then the length of the readable part.
	Torn        bool
	TornErr     error
	IntactBytes int64
}

// DeclaredStream is a stream declared by a record after the header.
type DeclaredStream struct {
	At   time.Duration
	Info StreamInfo
}

// Summarize reads a whole capture and accounts for every RTP packet.
func Summarize(r *Reader) (*Summary, error) {
	s := &Summary{Header: r.Header()}
	byssrc := map[uint32]*StreamSummary{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrTornRecord) {
			s.Torn, s.TornErr = true, err
			break
		}
		if err != nil {
			return nil, err
		}
		s.Records++
		switch rec.Kind {
		case RecordRTCP:
			s.RTCPPackets++
		case RecordStream:
			if info, err := DecodeStream(rec.Data); err == nil {
				s.Declared = append(s.Declared, DeclaredStream{At: rec.At, Info: info})
			}
		case RecordRTP:
			if len(rec.Data) < 12 {
				continue
			}
			ssrc := binary.BigEndian.Uint32(rec.Data[8:12])
			seq := binary.BigEndian.Uint16(rec.Data[2:4])
			st := byssrc[ssrc]
			if st == nil {
				st = &StreamSummary{SSRC: ssrc, PayloadType: rec.Data[1] & 0x7f, First: rec.At,
					FirstSeq: int64(seq), maxSeq: int64(seq), seen: map[int64]struct{}{}}
				byssrc[ssrc] = st
			}
			ext := unwrapNear(st.maxSeq, seq)
			if _, dup := st.seen[ext]; dup {
				st.Duplicates++
				continue
			}
			st.seen[ext] = struct{}{}
			if ext > st.maxSeq {
				st.maxSeq = ext
			}
			if ext < st.FirstSeq {
				st.FirstSeq = ext
			}
			st.Packets++
			st.Bytes += uint64(len(rec.Data))
			st.Last = rec.At
		}
	}
	s.IntactBytes = r.Offset()
	for _, st := range byssrc {
		st.LastSeq = st.maxSeq
		span := uint64(st.LastSeq - st.FirstSeq + 1)
		st.Gaps = span - st.Packets
		st.seen = nil
		s.Streams = append(s.Streams, st)
	}
	sort.Slice(s.Streams, func(i, j int) bool { return s.Streams[i].SSRC < s.Streams[j].SSRC })
	return s, nil
}

// unwrapNear extends a 16-bit sequence number to the value closest to ref.
func unwrapNear(ref int64, seq uint16) int64 {
	cand := (ref &^ 0xffff) | int64(seq)
	switch {
	case cand-ref > 0x8000:
		cand -= 0x10000
	case ref-cand > 0x8000:
		cand += 0x10000
	}
	return cand
}

// Stream returns the summary of one SSRC, or nil.
func (s *Summary) Stream(ssrc uint32) *StreamSummary {
	for _, st := range s.Streams {
		if st.SSRC == ssrc {
			return st
		}
	}
	return nil
}

// WriteText prints the summary the way `ars dump` shows it.
func (s *Summary) WriteText(w io.Writer) error {
	h := s.Header
	fmt.Fprintf(w, "channel: %s\nuid: %d\nstart: %s\nsource: %s\n", h.Channel, h.UID, h.Start.Format(time.RFC3339Nano), h.Source)
	for _, si := range h.Streams {
		writeStream(w, "declared stream:", si)
	}
	for _, d := range s.Declared {
		writeStream(w, fmt.Sprintf("declared stream at %s:", d.At), d.Info)
	}
	fmt.Fprintf(w, "records: %d (rtcp %d)\n", s.Records, s.RTCPPackets)
	for _, st := range s.Streams {
		fmt.Fprintf(w, "stream ssrc=%d pt=%d packets=%d bytes=%d first=%s last=%s seq=%d..%d gaps=%d duplicates=%d\n",
			st.SSRC, st.PayloadType, st.Packets, st.Bytes, st.First, st.Last, st.FirstSeq, st.LastSeq, st.Gaps, st.Duplicates)
	}
	if s.Torn {
		_, err := fmt.Fprintf(w, "torn: %v (intact bytes %d)\n", s.TornErr, s.IntactBytes)
		return err
	}
	_, err := fmt.Fprintln(w, "end: clean")
	return err
}

func writeStream(w io.Writer, label string, si StreamInfo) {
	fmt.Fprintf(w, "%s ssrc=%d pt=%d %s %s/%d", label, si.SSRC, si.PayloadType, si.Kind, si.Codec, si.ClockRate)
	if si.Channels > 0 {
		fmt.Fprintf(w, "/%d", si.Channels)
	}
	if si.Fmtp != "" {
		fmt.Fprintf(w, " fmtp=%q", si.Fmtp)
	}
	fmt.Fprintln(w)
}
