package session

import (
	"context"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
)

// restart closes m (gracefully unless crash) and starts a new manager on
// the same root and store.
func restart(t *testing.T, m *Manager, root string, st state.Backend, crash bool, opts ...Option) *Manager {
	t.Helper()
	if !crash {
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	} else {
		// A crash: the loop and workers stop, nothing is finalised.
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		close(m.stop)
		<-m.done
		m.workers.Wait()
	}
	m2 := New(storage.Layout{Root: root}, append([]Option{quiet(), WithState(st)}, opts...)...)
	if err := m2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m2.Close(context.Background()) })
	return m2
}

func TestResumeRecording(t *testing.T) {
	for _, tc := range []struct {
		name   string
		crash  bool
		status string
	}{
		{"graceful", false, "resumed"},
		{"crash", true, "interrupted,resumed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := state.NewMemory()
			m, root := newManager(t, WithState(st))
			info, _, err := m.StartRecording("c", 7, "the tag")
			if err != nil {
				t.Fatal(err)
			}
			m2 := restart(t, m, root, st, tc.crash)
			s := m2.Status("c")
			if s.Recording == nil || s.Recording.Directory != info.Directory || s.Recording.Tag != "the tag" ||
				!s.Recording.StartedAt.Equal(info.StartedAt) || s.Recording.Status != tc.status {
				t.Fatalf("resumed recording %+v, want %q in %s", s.Recording, tc.status, info.Directory)
			}
			md, err := storage.ReadMetadata(info.Directory)
			if err != nil || md.ErrorStatus != tc.status || md.Tag != "the tag" {
				t.Fatalf("Metadata.txt %+v %v", md, err)
			}
			if !storage.IsActive(info.Directory) {
				t.Fatal("a resumed recording must stay marked active")
			}
			// A participant that joins records into the same directory.
			p, err := m2.Join("c", 1, "rtp", video)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Write(storage.RecordRTP, time.Now(), pkt(1)); err != nil {
				t.Fatal(err)
			}
			if f := waitCapture(t, p); f == "" || len(f) <= len(info.Directory) || f[:len(info.Directory)] != info.Directory {
				t.Fatalf("capture %q not in %s", f, info.Directory)
			}
			// An explicit stop ends it for good: a third start resumes nothing.
			if !m2.StopRecording("c", StopRequested) {
				t.Fatal("stop")
			}
			if storage.IsActive(info.Directory) {
				t.Fatal("marker left after stop")
			}
			m3 := restart(t, m2, root, st, false)
			if s := m3.Status("c"); s.Recording != nil {
				t.Fatalf("a stopped recording came back: %+v", s.Recording)
			}
		})
	}
}

// TestResumedRecordingIdlesFromRestart: a resumed recording nobody sends
// to ends by the idle rule counted from the restart, not from its start.
func TestResumedRecordingIdlesFromRestart(t *testing.T) {
	st := state.NewMemory()
	m, root := newManager(t, WithState(st))
	if _, _, err := m.StartRecording("c", 7, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	m2 := restart(t, m, root, st, true, WithIdleTimeout(300*time.Millisecond), WithFlushInterval(20*time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	if m2.Status("c").Recording == nil {
		t.Fatal("the resumed recording ended at once: its idle time counted from its start")
	}
	deadline := time.Now().Add(3 * time.Second)
	for m2.Status("c").Recording != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m2.Status("c").Recording != nil {
		t.Fatal("the idle rule never ended the resumed recording")
	}
}

// TestResumeSkipsClosedDirectory: a record whose directory is no longer
// marked active (stopped by hand, removed) is forgotten, not resumed.
func TestResumeSkipsClosedDirectory(t *testing.T) {
	st := state.NewMemory()
	m, root := newManager(t, WithState(st))
	info, _, err := m.StartRecording("c", 7, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.ClearActive(info.Directory); err != nil {
		t.Fatal(err)
	}
	m2 := restart(t, m, root, st, true)
	if m2.Status("c").Recording != nil {
		t.Fatal("resumed into a closed directory")
	}
	if all, _ := st.All(recordingsBucket); len(all) != 0 {
		t.Fatalf("record kept: %v", all)
	}
}

func TestPersistedBeforeAnswer(t *testing.T) {
	st := state.NewMemory()
	m, _ := newManager(t, WithState(st))
	if _, _, err := m.StartRecording("c", 7, ""); err != nil {
		t.Fatal(err)
	}
	if all, _ := st.All(recordingsBucket); len(all) != 1 {
		t.Fatalf("state after start: %v", all)
	}
	_ = st.Close()
	if _, _, err := m.StartRecording("d", 7, ""); err == nil {
		t.Fatal("a start the store could not keep must fail")
	}
	if m.Status("d").Recording != nil {
		t.Fatal("a start that failed to persist is recording")
	}
}
