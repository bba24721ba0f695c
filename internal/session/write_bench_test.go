package session

import (
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// nopSink takes packets and keeps nothing: the cost measured is the
// participant's, not a sink's.
type nopSink struct{}

func (nopSink) Packet(*Participant, storage.RecordKind, time.Time, []byte) {}

// BenchmarkWrite is Participant.Write, the packet path, in each state a
// channel can be in: recording into an open capture, observed by a sink
// only, both, and neither (the packet is dropped). Each must stay free of
// allocations.
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name       string
		record     bool
		sink       bool
		wantErrNil bool
	}{
		{name: "capture", record: true, wantErrNil: true},
		{name: "sink", sink: true, wantErrNil: true},
		{name: "capture+sink", record: true, sink: true, wantErrNil: true},
		{name: "dropped"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, _ := newManager(b)
			p, err := m.Join("bench", 1, "rtp", video)
			if err != nil {
				b.Fatal(err)
			}
			if bc.sink {
				remove, err := m.AddSink("bench", nopSink{})
				if err != nil {
					b.Fatal(err)
				}
				defer remove()
			}
			packet := make([]byte, 1200)
			copy(packet, pkt(0))
			if bc.record {
				if _, _, err := m.StartRecording("bench", 1, ""); err != nil {
					b.Fatal(err)
				}
				// The first packet opens the capture, off the clock.
				_ = p.Write(storage.RecordRTP, time.Now(), packet)
				if waitCapture(b, p) == "" {
					b.Fatal("no capture opened")
				}
			}
			b.SetBytes(int64(len(packet)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				packet[2], packet[3] = byte(i>>8), byte(i)
				err := p.Write(storage.RecordRTP, time.Now(), packet)
				if (err == nil) != bc.wantErrNil {
					b.Fatalf("write: %v", err)
				}
			}
		})
	}
}
