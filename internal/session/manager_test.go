package session

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/storage"
)

func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

func newManager(t testing.TB, opts ...Option) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	m := New(storage.Layout{Root: root}, append([]Option{quiet()}, opts...)...)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m, root
}

// waitCapture waits up to 5 s for p's capture file, which an open worker
// opens after its first packet.
func waitCapture(t testing.TB, p *Participant) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.CaptureFile() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return p.CaptureFile()
}

var video = []storage.StreamInfo{{SSRC: 1, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000}}

func pkt(seq uint16) []byte {
	return []byte{0x80, 96, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0, 0, 0, 1, 0xaa}
}

func TestPacketsBeforeRecordingAreDropped(t *testing.T) {
	m, _ := newManager(t)
	p, err := m.Join("c", 1, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(storage.RecordRTP, time.Now(), pkt(1)); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("write before start: %v", err)
	}
	info, started, err := m.StartRecording("c", 1, "tag")
	if err != nil || !started {
		t.Fatal(started, err)
	}
	for i := 0; i < 10; i++ {
		if err := p.Write(storage.RecordRTP, time.Now(), pkt(uint16(i))); err != nil {
			t.Fatal(err)
		}
	}
	file := waitCapture(t, p)
	if filepath.Dir(file) != info.Directory {
		t.Fatalf("capture %q not in %q", file, info.Directory)
	}
	if live, _ := storage.IsLive(file); !live {
		t.Fatal("capture not locked while recording")
	}
	if !m.StopRecording("c", StopRequested) {
		t.Fatal("stop reported not recording")
	}
	if live, _ := storage.IsLive(file); live {
		t.Fatal("capture still locked after stop")
	}
	if err := p.Write(storage.RecordRTP, time.Now(), pkt(11)); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("write after stop: %v", err)
	}
	r, err := storage.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := storage.Summarize(r)
	if err != nil || s.Stream(1).Packets != 10 || s.Header.Tag != "tag" {
		t.Fatalf("summary %+v %v", s, err)
	}
}

func TestRejoinGetsNewFile(t *testing.T) {
	m, _ := newManager(t)
	if _, _, err := m.StartRecording("c", 9, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join("c", 2, "rtp", video); err != nil { // keeps the channel populated
		t.Fatal(err)
	}
	p1, _ := m.Join("c", 1, "rtp", video)
	_ = p1.Write(storage.RecordRTP, time.Now(), pkt(1))
	first := waitCapture(t, p1)
	p2, err := m.Join("c", 1, "rtp", video) // same uid again: replaces p1
	if err != nil {
		t.Fatal(err)
	}
	if !p1.Left() {
		t.Fatal("replaced participant did not leave")
	}
	_ = p2.Write(storage.RecordRTP, time.Now(), pkt(2))
	if second := waitCapture(t, p2); second == "" || second == first {
		t.Fatalf("rejoin files %q %q", first, second)
	}
	if st := m.Status("c"); len(st.Users) != 2 || st.Recording == nil {
		t.Fatalf("status %+v", st)
	}
}

func TestLastLeaveStopsRecording(t *testing.T) {
	closed := make(chan string, 4)
	m, _ := newManager(t, WithCaptureClosed(func(p string) { closed <- p }))
	a, _ := m.Join("c", 1, "rtp", video)
	b, _ := m.Join("c", 2, "rtp", video)
	_, _, _ = m.StartRecording("c", 1, "")
	_ = a.Write(storage.RecordRTP, time.Now(), pkt(1))
	_ = b.Write(storage.RecordRTP, time.Now(), pkt(1))
	a.Leave()
	if m.Status("c").Recording == nil {
		t.Fatal("recording stopped with one participant left")
	}
	b.Leave()
	if m.Status("c").Recording != nil {
		t.Fatal("recording still running after everyone left")
	}
	if len(closed) != 2 {
		t.Fatalf("%d captures handed on for conversion, want 2", len(closed))
	}
}

func TestIdleParticipantsLeaveAndRecordingStops(t *testing.T) {
	m, _ := newManager(t, WithIdleTimeout(300*time.Millisecond), WithFlushInterval(50*time.Millisecond))
	p, _ := m.Join("c", 1, "rtp", video)
	_, _, _ = m.StartRecording("c", 1, "")
	_ = p.Write(storage.RecordRTP, time.Now(), pkt(1))
	deadline := time.Now().Add(5 * time.Second)
	for m.Status("c").Recording != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !p.Left() || m.Status("c").Recording != nil {
		t.Fatal("idle participant and recording did not end")
	}
	// A recording that nobody ever joins ends too.
	_, _, _ = m.StartRecording("empty", 1, "")
	for m.Status("empty").Recording != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m.Status("empty").Recording != nil {
		t.Fatal("empty recording did not end")
	}
}

func TestCrashLeavesRecordingMarkedInterrupted(t *testing.T) {
	root := t.TempDir()
	m := New(storage.Layout{Root: root}, quiet())
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	info, _, _ := m.StartRecording("c", 1, "x")
	// No Close: the process "dies". A new manager on the same root finds it.
	m2 := New(storage.Layout{Root: root}, quiet())
	if err := m2.Start(); err != nil {
		t.Fatal(err)
	}
	defer m2.Close(context.Background())
	md, err := storage.ReadMetadata(info.Directory)
	if err != nil || md.ErrorStatus != storage.StatusInterrupted || md.Tag != "x" {
		t.Fatalf("metadata %+v %v", md, err)
	}
}

func TestConcurrentJoinWriteStop(t *testing.T) {
	m, _ := newManager(t)
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(uid uint32) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				p, err := m.Join("busy", uid, "rtp", video)
				if err != nil {
					t.Error(err)
					return
				}
				if j%5 == 0 {
					_, _, _ = m.StartRecording("busy", uid, "")
				}
				for k := 0; k < 20; k++ {
					_ = p.Write(storage.RecordRTP, time.Now(), pkt(uint16(k)))
				}
				if j%7 == 0 {
					m.StopRecording("busy", StopRequested)
				}
				p.Leave()
			}
		}(uint32(i + 1))
	}
	wg.Wait()
	m.StopRecording("busy", StopRequested)
	m.wg.Wait()
	if st := m.Status("busy"); st.Recording != nil || len(st.Users) != 0 {
		t.Fatalf("status %+v", st)
	}
	if v := testutil.ToFloat64(m.metrics.OpenFiles); v != 0 {
		t.Fatalf("%v capture files still open", v)
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, after)
	}
}
