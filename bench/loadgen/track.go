package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Packet is one RTP packet and when it is due, relative to the start of
// its track.
type Packet struct {
	At   time.Duration
	Data []byte
}

// Track is one RTP stream of the media, played in a loop by the sender.
type Track struct {
	Info    storage.StreamInfo
	Packets []Packet
	// Loop is the length of one pass: the last packet's time plus one
	// frame, so that the next pass continues the timeline seamlessly.
	Loop time.Duration
	// loopTicks is Loop in RTP clock ticks; ts0 the first packet's RTP
	// timestamp; tsOff each packet's timestamp relative to ts0.
	loopTicks uint32
	tsOff     []uint32
}

// Tracks is the media a participant sends: one video and one audio track.
type Tracks struct {
	Video, Audio *Track
}

// LoadTracks reads the media capture made by EnsureMedia.
func LoadTracks(path string) (Tracks, error) {
	r, err := storage.Open(path)
	if err != nil {
		return Tracks{}, err
	}
	defer r.Close()
	byssrc := map[uint32]*Track{}
	var ts Tracks
	for _, s := range r.Header().Streams {
		t := &Track{Info: s}
		byssrc[s.SSRC] = t
		switch s.Kind {
		case storage.KindVideo:
			ts.Video = t
		case storage.KindAudio:
			ts.Audio = t
		}
	}
	if ts.Video == nil || ts.Audio == nil {
		return Tracks{}, fmt.Errorf("%w: %s lacks a video or an audio stream", ErrMedia, path)
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Tracks{}, err
		}
		if rec.Kind != storage.RecordRTP || len(rec.Data) < 12 {
			continue
		}
		if t := byssrc[binary.BigEndian.Uint32(rec.Data[8:12])]; t != nil {
			t.Packets = append(t.Packets, Packet{At: rec.At, Data: append([]byte(nil), rec.Data...)})
		}
	}
	for _, t := range []*Track{ts.Video, ts.Audio} {
		if err := t.prepare(); err != nil {
			return Tracks{}, err
		}
	}
	return ts, nil
}

// prepare rebases the track to start at 0 and works out its loop length.
func (t *Track) prepare() error {
	if len(t.Packets) < 2 {
		return fmt.Errorf("%w: %s track has %d packets", ErrMedia, t.Info.Kind, len(t.Packets))
	}
	at0 := t.Packets[0].At
	ts0 := binary.BigEndian.Uint32(t.Packets[0].Data[4:])
	t.tsOff = make([]uint32, len(t.Packets))
	frame := time.Duration(0)
	for i := range t.Packets {
		t.Packets[i].At -= at0
		t.tsOff[i] = binary.BigEndian.Uint32(t.Packets[i].Data[4:]) - ts0
		if i > 0 {
			if d := t.Packets[i].At - t.Packets[i-1].At; d > 0 && (frame == 0 || d < frame) {
				frame = d
			}
		}
	}
	last := t.tsOff[len(t.tsOff)-1]
	frameTicks := uint32(int64(frame) * int64(t.Info.ClockRate) / int64(time.Second))
	t.loopTicks = last + frameTicks
	t.Loop = time.Duration(int64(t.loopTicks) * int64(time.Second) / int64(t.Info.ClockRate))
	return nil
}

// Rate is the track's packets per second.
func (t *Track) Rate() float64 { return float64(len(t.Packets)) / t.Loop.Seconds() }

// Bitrate is the track's RTP bits per second, headers included.
func (t *Track) Bitrate() float64 {
	n := 0
	for _, p := range t.Packets {
		n += len(p.Data)
	}
	return float64(n*8) / t.Loop.Seconds()
}
