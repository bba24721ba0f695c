package webhook

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testfs"
)

// TestNotifierSendsOnFullDisk: the queue directory is a real tmpfs that
// is full. The events that report it (a recording that cannot write)
// are still accepted and delivered, in order with those queued on disk
// before.
func TestNotifierSendsOnFullDisk(t *testing.T) {
	dir := testfs.Small(t, "size=256k")
	rcv := &receiver{failN: 1} // the first is retried: the rest waits behind it
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New(srv.URL, "s3cret", filepath.Join(dir, "q"), WithRetryPause(50*time.Millisecond))
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	if err := n.Notify(EventRecorderStarted, 1, Payload{SID: "s", Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err = f.Write(make([]byte, 4096)); err == nil; _, err = f.Write(make([]byte, 4096)) {
	}
	_ = f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	for seq := 2; seq <= 4; seq++ {
		if err := n.Notify(EventError, 0, Payload{SID: "s", Sequence: seq}); err != nil {
			t.Fatalf("notify on a full disk: %v", err)
		}
	}
	waitUntil(t, func() bool { return rcv.count() == 4 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, g := range rcv.got {
		if g.Payload.Sequence != i+1 {
			t.Errorf("notification %d has sequence %d: out of order", i, g.Payload.Sequence)
		}
	}
	// The receiver records a notification before its answer reaches the
	// notifier, which only then takes it out of the queue.
	waitUntil(t, func() bool { return len(n.waiting()) == 0 })
}
