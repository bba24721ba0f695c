package session

import (
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

type recordingSink struct {
	mu      sync.Mutex
	packets map[uint32]int
	joined  []uint32
	left    []uint32
}

func (s *recordingSink) Packet(p *Participant, _ storage.RecordKind, _ time.Time, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets[p.UID()]++
}
func (s *recordingSink) Joined(p *Participant) {
	s.mu.Lock()
	s.joined = append(s.joined, p.UID())
	s.mu.Unlock()
}
func (s *recordingSink) Left(p *Participant) {
	s.mu.Lock()
	s.left = append(s.left, p.UID())
	s.mu.Unlock()
}

func TestSinkSeesPacketsAndMembership(t *testing.T) {
	m, _ := newManager(t)
	early, _ := m.Join("live", 1, "rtp", video)
	sink := &recordingSink{packets: map[uint32]int{}}
	remove, err := m.AddSink("live", sink)
	if err != nil {
		t.Fatal(err)
	}
	late, _ := m.Join("live", 2, "rtp", video)
	for i := 0; i < 5; i++ {
		_ = early.Write(storage.RecordRTP, time.Now(), pkt(uint16(i))) // not recording: still seen by the sink
		_ = late.Write(storage.RecordRTP, time.Now(), pkt(uint16(i)))
	}
	late.Leave()
	remove()
	_ = early.Write(storage.RecordRTP, time.Now(), pkt(9))
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.packets[1] != 5 || sink.packets[2] != 5 {
		t.Fatalf("packets %v", sink.packets)
	}
	if len(sink.joined) != 2 || len(sink.left) != 1 || sink.left[0] != 2 {
		t.Fatalf("joined %v left %v", sink.joined, sink.left)
	}
	early.Leave()
	if len(m.Channels()) != 0 {
		t.Fatalf("channel kept after its sink and participants left: %+v", m.Channels())
	}
}
