package session

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/storage"
)

// With crash buffers every capture's buffer is a file of the buffer
// directory while it is open, and gone when it closes; a directory that
// cannot hold one makes the capture fall back to the heap (counted), and
// recording goes on.
func TestCapturesUseCrashBuffers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dir       func(t *testing.T) string
		fallbacks float64
	}{
		{"buffer directory", func(t *testing.T) string { return t.TempDir() }, 0},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "gone") }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			mt := metrics.New()
			m, _ := newManager(t, WithCrashBuffers(dir), WithMetrics(mt), WithFlushInterval(time.Hour))
			p, err := m.Join("buffered", 5, "rtp", video)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.StartRecording("buffered", 5, ""); err != nil {
				t.Fatal(err)
			}
			if err := p.Write(storage.RecordRTP, time.Now(), pkt(1)); err != nil {
				t.Fatal(err)
			}
			path := waitCapture(t, p)
			if path == "" {
				t.Fatal("no capture opened")
			}
			bufs, _ := filepath.Glob(filepath.Join(dir, "*"+storage.CrashBufferExt))
			crashSafe := p.capture.Load().w.CrashBuffered()
			if crashSafe != (tc.fallbacks == 0) || len(bufs) != map[bool]int{true: 1, false: 0}[crashSafe] {
				t.Fatalf("crash buffered %v with %d buffer files", crashSafe, len(bufs))
			}
			if got := testutil.ToFloat64(mt.CaptureBufferFallbacks); got != tc.fallbacks {
				t.Fatalf("fallbacks %v, want %v", got, tc.fallbacks)
			}
			if !m.StopRecording("buffered", "test") {
				t.Fatal("not stopped")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Fatalf("buffers left after the stop: %v", left)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Fatalf("capture %s: %v", path, err)
			}
		})
	}
}
