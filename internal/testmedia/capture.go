package testmedia

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Record is a capture record that is not one of a Stream's packets: an
// RTCP packet or a mid-file stream declaration.
type Record = storage.Record

// WriteCapture writes streams (and extra records) as a capture at path,
// all records interleaved by arrival time. If hdr.Streams is nil every
// stream is declared in the header. hdr.Start defaults to a fixed date.
func WriteCapture(t testing.TB, path string, hdr storage.Header, streams []Stream, extra ...Record) {
	t.Helper()
	if hdr.Streams == nil {
		for _, s := range streams {
			hdr.Streams = append(hdr.Streams, s.Info)
		}
	}
	if hdr.Start.IsZero() {
		hdr.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	if hdr.Channel == "" {
		hdr.Channel = "test"
	}
	// Extra records go first so that at equal times a stream declaration
	// or report precedes the packets it describes.
	recs := make([]Record, 0, len(extra)+64)
	recs = append(recs, extra...)
	for _, s := range streams {
		for _, p := range s.Packets {
			recs = append(recs, Record{Kind: storage.RecordRTP, At: p.At, Data: p.Data})
		}
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return cmp.Compare(a.At, b.At) })
	w, err := storage.Create(path, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r.Kind, r.At, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// StreamRecord declares info mid-file at time at.
func StreamRecord(t testing.TB, at time.Duration, info storage.StreamInfo) Record {
	t.Helper()
	js, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Kind: storage.RecordStream, At: at, Data: js}
}

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// NTP converts a wall-clock time to a 64-bit NTP timestamp.
func NTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// SenderReports makes RTCP sender reports for s, one every interval,
// each arriving together with the packet it describes. The sender's clock
// says the stream's first timestamp was sampled at origin; streams of one
// sender given the same origin are in sync, whatever their arrival times.
func SenderReports(s Stream, origin time.Time, interval time.Duration) []Record {
	if len(s.Packets) == 0 {
		return nil
	}
	ts0 := tsOf(s.Packets[0].Data)
	var recs []Record
	next := s.Packets[0].At
	for _, p := range s.Packets {
		if p.At < next {
			continue
		}
		next = p.At + interval
		ts := tsOf(p.Data)
		media := time.Duration(int64(ts-ts0) * int64(time.Second) / int64(s.Info.ClockRate))
		recs = append(recs, Record{Kind: storage.RecordRTCP, At: p.At, Data: SenderReport(s.Info.SSRC, NTP(origin.Add(media)), ts)})
	}
	return recs
}

// SenderReport builds a minimal RTCP SR (no report blocks).
func SenderReport(ssrc uint32, ntp uint64, rtpTS uint32) []byte {
	b := make([]byte, 28)
	b[0] = 0x80
	b[1] = 200
	binary.BigEndian.PutUint16(b[2:], 6)
	binary.BigEndian.PutUint32(b[4:], ssrc)
	binary.BigEndian.PutUint64(b[8:], ntp)
	binary.BigEndian.PutUint32(b[16:], rtpTS)
	return b
}
