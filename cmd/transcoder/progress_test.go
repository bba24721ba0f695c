package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/batch"
)

// syncWriter is a bytes.Buffer safe for a logger and a test to share.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	b := newProgressBar(&out)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return t0 }
	b.Planned(4)
	b.now = func() time.Time { return t0.Add(75 * time.Second) }
	b.Done(batch.FileResult{Status: batch.StatusConverted})
	b.Done(batch.FileResult{Status: batch.StatusFailed})
	if _, err := b.Write([]byte("level=INFO msg=converted\n")); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "\r\x1b[K"+"[###############---------------] 2/4 files, 1 failed, 1:15") {
		t.Fatalf("bar not drawn as expected: %q", s)
	}
	// The log line starts on a cleared line and the bar comes back below it.
	if !strings.Contains(s, "\r\x1b[Klevel=INFO msg=converted\n\r\x1b[K[###") {
		t.Fatalf("log line not drawn above the bar: %q", s)
	}
	b.Finish()
	if !strings.HasSuffix(out.String(), "\r\x1b[K") {
		t.Fatalf("bar not cleared: %q", out.String())
	}
	out.Reset()
	if _, err := b.Write([]byte("after\n")); err != nil || out.String() != "after\n" {
		t.Fatalf("finished bar still drawn: %q", out.String())
	}
}
