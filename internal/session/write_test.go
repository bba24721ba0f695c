package session

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/storage"
)

// A packet a sink takes is not dropped, recording or not: Write reports
// nil for it even when the capture it was headed for closed under it (a
// stop or a leave racing the packet), and ErrNotRecording only where
// nothing observes the channel. The ingests count the packet as written
// or dropped by that answer.
func TestWriteTakenBySinkIsNotDropped(t *testing.T) {
	// No flush while the test holds a closed capture in place.
	m, _ := newManager(t, WithFlushInterval(time.Hour))
	sink := &recordingSink{packets: map[uint32]int{}}
	remove, err := m.AddSink("observed", sink)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	observed, err := m.Join("observed", 1, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := m.Join("alone", 2, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	if err := observed.Write(storage.RecordRTP, time.Now(), pkt(1)); err != nil {
		t.Fatalf("not recording, sink attached: %v", err)
	}
	if err := alone.Write(storage.RecordRTP, time.Now(), pkt(1)); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("not recording, no sink: %v", err)
	}
	for _, p := range []*Participant{observed, alone} {
		if _, _, err := m.StartRecording(p.Channel(), p.UID(), ""); err != nil {
			t.Fatal(err)
		}
		if err := p.Write(storage.RecordRTP, time.Now(), pkt(2)); err != nil {
			t.Fatalf("%s: first recorded packet: %v", p.Channel(), err)
		}
		if waitCapture(t, p) == "" {
			t.Fatalf("%s: no capture opened", p.Channel())
		}
		// What a stop does to the capture of a packet already on its way
		// to it.
		if err := p.capture.Load().w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := observed.Write(storage.RecordRTP, time.Now(), pkt(3)); err != nil {
		t.Fatalf("capture closed under the packet, sink attached: %v", err)
	}
	if err := alone.Write(storage.RecordRTP, time.Now(), pkt(3)); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("capture closed under the packet, no sink: %v", err)
	}
	sink.mu.Lock()
	got := sink.packets[1]
	sink.mu.Unlock()
	if got != 3 {
		t.Fatalf("sink saw %d packets, want 3", got)
	}
	if v := testutil.ToFloat64(m.metrics.WriteErrors); v != 0 {
		t.Fatalf("a closed capture counted as %v write errors", v)
	}
}

// A sink does not hide what the recording lost: a packet the capture
// queue had no room for is reported as such though a sink took it.
func TestRecordingLossReportedDespiteSink(t *testing.T) {
	m, _ := newManager(t, WithCaptureQueue(1, 1<<20))
	sink := &recordingSink{packets: map[uint32]int{}}
	remove, err := m.AddSink("q", sink)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	p, err := m.Join("q", 1, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.StartRecording("q", 1, ""); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock() // the open worker waits here
	first := p.Write(storage.RecordRTP, time.Now(), pkt(1))
	second := p.Write(storage.RecordRTP, time.Now(), pkt(2))
	p.mu.Unlock()
	if first != nil {
		t.Fatalf("queued packet: %v", first)
	}
	if !errors.Is(second, ErrCaptureQueueFull) {
		t.Fatalf("packet past the queue, sink attached: %v", second)
	}
	sink.mu.Lock()
	got := sink.packets[1]
	sink.mu.Unlock()
	if got != 2 {
		t.Fatalf("sink saw %d packets, want 2", got)
	}
}

// A flush that meets a capture a stop closed after the flush loaded it is
// no write failure: nothing is counted and the participant's next capture
// is not held back by the retry pause.
func TestFlushOfClosedCaptureIsNoFailure(t *testing.T) {
	m, _ := newManager(t, WithFlushInterval(time.Hour))
	p, err := m.Join("f", 1, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.StartRecording("f", 1, ""); err != nil {
		t.Fatal(err)
	}
	_ = p.Write(storage.RecordRTP, time.Now(), pkt(1))
	if waitCapture(t, p) == "" {
		t.Fatal("no capture opened")
	}
	if err := p.capture.Load().w.Close(); err != nil {
		t.Fatal(err)
	}
	m.flushAll(time.Now())
	if v := testutil.ToFloat64(m.metrics.WriteErrors); v != 0 {
		t.Fatalf("%v write errors", v)
	}
	if p.retryAt.Load() != 0 {
		t.Fatal("next capture held back by a retry pause")
	}
}
