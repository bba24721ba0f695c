package session

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/storage"
)

// The packet path does not open capture files: while the open cannot
// proceed (here: the participant's open lock is held, as a slow disk would
// hold it), Write returns at once, the first packets wait in the bounded
// queue, packets past the bound are dropped and counted, and once the file
// is open the queued packets are written first, in order.
func TestFirstPacketsQueuedWhileCaptureOpens(t *testing.T) {
	m, _ := newManager(t, WithCaptureQueue(100, 1<<20))
	p, err := m.Join("q", 1, "rtp", video)
	if err != nil {
		t.Fatal(err)
	}
	info, _, err := m.StartRecording("q", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock() // the open worker waits here
	results := make(chan [2]int, 1)
	go func() {
		var queued, full int
		for i := 0; i < 300; i++ {
			seq := uint16(i)
			if i >= 100 {
				seq = uint16(1000 + i) // dropped: must not show in the capture
			}
			switch err := p.Write(storage.RecordRTP, time.Now(), pkt(seq)); {
			case err == nil:
				queued++
			case errors.Is(err, ErrCaptureQueueFull):
				full++
			default:
				t.Errorf("write %d: %v", i, err)
			}
		}
		results <- [2]int{queued, full}
	}()
	var got [2]int
	select {
	case got = <-results:
	case <-time.After(5 * time.Second):
		p.mu.Unlock()
		t.Fatal("Write blocked while the capture file could not be opened")
	}
	if p.CaptureFile() != "" {
		t.Fatal("capture opened by the packet path")
	}
	p.mu.Unlock()
	if got != [2]int{100, 200} {
		t.Fatalf("queued/full %v, want [100 200]", got)
	}
	if v := testutil.ToFloat64(m.metrics.DropQueueFull); v != 200 {
		t.Fatalf("queue drops counted %v, want 200", v)
	}
	if v := testutil.ToFloat64(m.metrics.CaptureQueued); v != 100 {
		t.Fatalf("queued counted %v, want 100", v)
	}
	file := waitCapture(t, p)
	if file == "" {
		t.Fatal("capture never opened")
	}
	for i := 100; i < 110; i++ {
		if err := p.Write(storage.RecordRTP, time.Now(), pkt(uint16(i))); err != nil {
			t.Fatal(err)
		}
	}
	m.StopRecording("q", StopRequested)
	r, err := storage.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if filepath.Dir(file) != info.Directory {
		t.Fatalf("capture %s outside %s", file, info.Directory)
	}
	want := uint16(0)
	var last time.Duration
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != storage.RecordRTP {
			continue
		}
		if seq := binary.BigEndian.Uint16(rec.Data[2:]); seq != want {
			t.Fatalf("record %d has seq %d", want, seq)
		}
		if rec.At < last || rec.At < 0 {
			t.Fatalf("record %d at %v after %v", want, rec.At, last)
		}
		last = rec.At
		want++
	}
	if want != 110 {
		t.Fatalf("%d packets recorded, want 110", want)
	}
}

// A recording stopped while packets wait for the open keeps them: the
// stop opens the file, writes them and closes it; the queue goes back.
func TestQueuedPacketsKeptOnStop(t *testing.T) {
	m, _ := newManager(t)
	p, _ := m.Join("q", 1, "rtp", video)
	info, _, _ := m.StartRecording("q", 1, "")
	p.mu.Lock()
	if err := p.Write(storage.RecordRTP, time.Now(), pkt(1)); err != nil {
		p.mu.Unlock()
		t.Fatal(err)
	}
	p.mu.Unlock()
	m.StopRecording("q", StopRequested)
	if p.CaptureFile() != "" || p.pend != nil {
		t.Fatalf("capture %q or queue left after stop", p.CaptureFile())
	}
	files, _ := filepath.Glob(filepath.Join(info.Directory, "*.tmp"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	r, err := storage.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s, err := storage.Summarize(r); err != nil || s.Stream(1) == nil || s.Stream(1).Packets != 1 {
		t.Fatalf("summary %+v %v", s, err)
	}
}

func TestJoinCaps(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	t.Run("per client", func(t *testing.T) {
		m, _ := newManager(t, WithMaxJoinsPerClient(2))
		p1, err1 := m.Join("c", 1, "rtp", video, FromClient(a))
		_, err2 := m.Join("d", 2, "rtp", video, FromClient(a))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if _, err := m.Join("e", 3, "rtp", video, FromClient(a)); !errors.Is(err, ErrTooManyJoins) {
			t.Fatalf("third join from one address: %v", err)
		}
		if _, err := m.Join("e", 3, "rtp", video, FromClient(b)); err != nil {
			t.Fatalf("join from another address: %v", err)
		}
		// Rejoining an uid replaces it: no extra slot needed.
		if _, err := m.Join("d", 2, "rtp", video, FromClient(a)); err != nil {
			t.Fatalf("rejoin: %v", err)
		}
		p1.Leave()
		if _, err := m.Join("e", 4, "rtp", video, FromClient(a)); err != nil {
			t.Fatalf("join after a leave: %v", err)
		}
		if v := testutil.ToFloat64(m.metrics.JoinsRefused.WithLabelValues("per_ip")); v != 1 {
			t.Fatalf("refusals counted %v", v)
		}
		if len(m.Channels()) != 2 { // d and e; c went with p1
			t.Fatalf("channels %d: a refused join left a channel behind", len(m.Channels()))
		}
	})
	t.Run("total", func(t *testing.T) {
		m, _ := newManager(t, WithMaxTotalParticipants(2))
		p1, _ := m.Join("c", 1, "rtp", video)
		_, _ = m.Join("c", 2, "rtp", video)
		if _, err := m.Join("d", 3, "rtp", video); !errors.Is(err, ErrServerFull) {
			t.Fatalf("join past the total: %v", err)
		}
		p1.Leave()
		if _, err := m.Join("d", 3, "rtp", video); err != nil {
			t.Fatalf("join after a leave: %v", err)
		}
	})
	t.Run("per channel", func(t *testing.T) {
		m, _ := newManager(t, WithMaxParticipants(1))
		p1, _ := m.Join("c", 1, "rtp", video)
		if _, err := m.Join("c", 2, "rtp", video); !errors.Is(err, ErrTooManyParticipants) {
			t.Fatalf("join past the channel cap: %v", err)
		}
		p1.Leave()
		if _, err := m.Join("c", 2, "rtp", video); err != nil {
			t.Fatalf("join after a leave: %v", err)
		}
	})
	t.Run("channels", func(t *testing.T) {
		m, _ := newManager(t, WithMaxChannels(1))
		p1, _ := m.Join("c", 1, "rtp", video)
		if _, err := m.Join("d", 1, "rtp", video); !errors.Is(err, ErrTooManyChannels) {
			t.Fatalf("join of a second channel: %v", err)
		}
		if _, _, err := m.StartRecording("d", 1, ""); !errors.Is(err, ErrTooManyChannels) {
			t.Fatalf("recording of a second channel: %v", err)
		}
		if _, err := m.AddSink("d", &recordingSink{}); !errors.Is(err, ErrTooManyChannels) {
			t.Fatalf("sink on a second channel: %v", err)
		}
		p1.Leave()
		if _, err := m.Join("d", 1, "rtp", video); err != nil {
			t.Fatalf("join after the channel went: %v", err)
		}
	})
}

// Packets keep arriving while the queue drains into the new file: every
// one is recorded, in order (run with -race: the drain writes outside the
// queue's lock).
func TestDrainRacesArrivals(t *testing.T) {
	m, _ := newManager(t, WithCaptureQueue(1<<16, 64<<20))
	p, _ := m.Join("d", 1, "rtp", video)
	info, _, _ := m.StartRecording("d", 1, "")
	const total = 3000
	for i := 0; i < total; i++ {
		if err := p.Write(storage.RecordRTP, time.Now(), pkt(uint16(i))); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	waitCapture(t, p)
	m.StopRecording("d", StopRequested)
	files, _ := filepath.Glob(filepath.Join(info.Directory, "*.tmp"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	r, err := storage.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := uint16(0)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != storage.RecordRTP {
			continue
		}
		if seq := binary.BigEndian.Uint16(rec.Data[2:]); seq != want {
			t.Fatalf("record %d has seq %d", want, seq)
		}
		want++
	}
	if want != total {
		t.Fatalf("%d of %d packets recorded", want, total)
	}
}
