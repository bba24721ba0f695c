package mixfeed

import (
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// discard is a Target that keeps nothing.
type discard struct{ units int }

func (*discard) Join(mixproto.Source)                              {}
func (*discard) Leave(uint32)                                      {}
func (d *discard) Video(uint32, int64, mixproto.VideoMeta, []byte) { d.units++ }
func (d *discard) Audio(uint32, int64, []byte)                     { d.units++ }

// TestLivePacketAllocations: the packet path allocates nothing once a
// stream's buffers have grown (the first keyframe, the reorder slots).
func TestLivePacketAllocations(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25})
	m := newSession(t)
	d := &discard{}
	origin := time.Now()
	live := NewLive(d, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	p, err := m.Join("mix", 11, "rtp", []storage.StreamInfo{media[0].Info, media[1].Info})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Leave()
	pkts := merged(media, append(testmedia.SenderReports(media[0], origin, time.Second),
		testmedia.SenderReports(media[1], origin, time.Second)...))
	warm := len(pkts) / 2
	for _, a := range pkts[:warm] {
		live.Packet(p, kindFor(a), origin.Add(a.at), a.data)
	}
	rest := pkts[warm:]
	i := 0
	allocs := testing.AllocsPerRun(len(rest)-1, func() {
		a := rest[i]
		i++
		live.Packet(p, kindFor(a), origin.Add(a.at), a.data)
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per packet", allocs)
	}
	if d.units == 0 {
		t.Fatal("nothing reached the target")
	}
}

func kindFor(a arrival) storage.RecordKind {
	if a.rtcp {
		return storage.RecordRTCP
	}
	return storage.RecordRTP
}
