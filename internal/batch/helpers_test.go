package batch

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/transcode"
)

// media is the clean audio+video capture content every test shares
// (testmedia encodes it once per test binary).
func media(t *testing.T) []testmedia.Stream {
	t.Helper()
	return testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second})
}

// recDir is a recording directory laid out as the daemon makes them.
func recDir(root, channel string) string {
	return filepath.Join(root, "2026_11_21", channel+"_100000")
}

// writeCapture writes a finished capture of the shared media at dir/name.
func writeCapture(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, storage.DirMode); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	testmedia.WriteCapture(t, path, storage.Header{Channel: filepath.Base(dir), UID: 42, Source: "rtp"}, media(t))
	return path
}

// checkMP4 judges a converted capture with ffmpeg: it decodes without a
// single complaint, holds both tracks, every sent video frame and every
// audio packet, and has the recording root's file mode.
func checkMP4(t *testing.T, path string) {
	t.Helper()
	streams := media(t)
	p := testmedia.ProbeMP4(t, path)
	v, a := p.Stream("video"), p.Stream("audio")
	if v == nil || a == nil {
		t.Fatalf("%s: streams %+v", path, p.Streams)
	}
	if want := streams[0].Frames(); v.Frames != want {
		t.Errorf("%s: %d video frames, sent %d", path, v.Frames, want)
	}
	if want := streams[1].Frames(); a.Frames != want {
		t.Errorf("%s: %d audio frames, sent %d", path, a.Frames, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != storage.FileMode {
		t.Errorf("%s: mode %v", path, fi.Mode().Perm())
	}
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists", path)
	}
}

func mp4Of(src string) string { return strings.TrimSuffix(src, ".tmp") + ".mp4" }
func tmpOf(src string) string { return strings.TrimSuffix(src, ".tmp") + ".transcoding" }

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// counter wraps the real converter and counts conversions per capture.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
	next Converter
}

func newCounter(next Converter) *counter { return &counter{runs: map[string]int{}, next: next} }

func (c *counter) convert(ctx context.Context, src, dst string) (transcode.Result, error) {
	c.mu.Lock()
	c.runs[src]++
	c.mu.Unlock()
	return c.next(ctx, src, dst)
}

// gate holds every conversion until released (or until its context is
// cancelled), then hands it to the real converter. It lets a test act
// while a conversion is known to be in flight.
type gate struct {
	started chan string
	release chan struct{}
	next    Converter
}

func newGate(next Converter) *gate {
	return &gate{started: make(chan string, 64), release: make(chan struct{}), next: next}
}

func (g *gate) convert(ctx context.Context, src, dst string) (transcode.Result, error) {
	g.started <- src
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return g.next(ctx, src, dst)
}

func waitStarted(t *testing.T, g *gate) string {
	t.Helper()
	select {
	case src := <-g.started:
		return src
	case <-time.After(time.Minute):
		t.Fatal("no conversion started")
		return ""
	}
}

// goroutineGuard fails the test if it leaves goroutines behind.
func goroutineGuard(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left behind (before %d):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
		}
	})
}
