package aacenc

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// mixerBin is the ars-mixer the tests run: $ARS_MIXER_BIN, or one built
// from cmd/ars-mixer (cgo, GStreamer) once for the package.
var mixerBin struct {
	once sync.Once
	path string
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if mixerBin.dir != "" {
		_ = os.RemoveAll(mixerBin.dir)
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ARS_MIXER_BIN"); p != "" {
		return p
	}
	mixerBin.once.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			mixerBin.err = err
			return
		}
		if mixerBin.dir, err = os.MkdirTemp("", "aacenc-test"); err != nil {
			mixerBin.err = err
			return
		}
		mixerBin.path = filepath.Join(mixerBin.dir, "ars-mixer")
		cmd := exec.Command("go", "build", "-o", mixerBin.path, "./cmd/ars-mixer")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			mixerBin.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if mixerBin.err != nil {
		t.Skipf("ars-mixer does not build here (GStreamer missing?): %v", mixerBin.err)
	}
	return mixerBin.path
}

// noLeak fails the test when it leaves goroutines behind.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// collector gathers a transcoder's results per stream.
type collector struct {
	mu      sync.Mutex
	results map[uint32][]AAC
	calls   int
	busy    bool
	overlap bool
}

func newCollector() *collector { return &collector{results: map[uint32][]AAC{}} }

func (c *collector) on(id uint32, au AAC) {
	c.mu.Lock()
	if c.busy {
		c.overlap = true
	}
	c.busy = true
	c.results[id] = append(c.results[id], au)
	c.calls++
	c.busy = false
	c.mu.Unlock()
}

func (c *collector) of(id uint32) []AAC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]AAC(nil), c.results[id]...)
}

func (c *collector) units(id uint32) []AAC {
	var out []AAC
	for _, r := range c.of(id) {
		if r.Kind == KindUnit {
			out = append(out, r)
		}
	}
	return out
}

// start runs a transcoder whose results go to c; Close runs at cleanup.
func start(t *testing.T, c *collector, opts ...Option) *Transcoder {
	t.Helper()
	tr, err := New(append([]Option{WithBinary(binary(t)), WithOnAAC(c.on)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
	})
	return tr
}

// feed writes packets 20 ms apart from pts 0, skipping those for which
// skip says so; every Write must be taken.
func feed(t *testing.T, s *Stream, pkts [][]byte, skip func(i int) bool) {
	t.Helper()
	for i, p := range pkts {
		if skip != nil && skip(i) {
			continue
		}
		for !s.Write(time.Duration(i)*20*time.Millisecond, p) {
			// The test feeds faster than real time: a full queue is
			// waited out here, never in the daemon.
			time.Sleep(time.Millisecond)
		}
	}
}

// writeADTS writes the stream's units as an ADTS file and returns the
// first unit's PTS.
func writeADTS(t *testing.T, path string, results []AAC) time.Duration {
	t.Helper()
	var cfg *AAC
	var out []byte
	first := time.Duration(math.MinInt64)
	for i := range results {
		r := results[i]
		switch r.Kind {
		case KindConfig:
			cfg = &results[i]
		case KindUnit:
			if cfg == nil {
				t.Fatal("a unit before its config")
			}
			if first == math.MinInt64 {
				first = r.PTS
			}
			out = append(out, adts(cfg.ASC, len(r.Data))...)
			out = append(out, r.Data...)
		}
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return first
}

// adts is the 7-byte ADTS header of a raw frame of n bytes, from the
// AudioSpecificConfig (ISO 14496-3 1.A.2.2.1).
func adts(asc []byte, n int) []byte {
	obj := int(asc[0] >> 3)
	sfi := int(asc[0]&7)<<1 | int(asc[1]>>7)
	ch := int(asc[1]>>3) & 0xf
	l := n + 7
	return []byte{0xff, 0xf1, byte((obj-1)<<6 | sfi<<2 | ch>>2), byte((ch&3)<<6 | l>>11), byte(l >> 3), byte(l&7<<5 | 0x1f), 0xfc}
}

// decodeClean decodes path with ffmpeg -xerror (any error fails) and
// returns its sound as mono 48 kHz samples.
func decodeClean(t *testing.T, path string) []int16 {
	t.Helper()
	if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("%s does not decode cleanly: %v\n%s", path, err, out)
	}
	return testmedia.DecodeMono(t, "-i", path)
}

// onsets are the times (s from sample 0) where the sound rises above
// 30 % of its loudest 1 ms block after at least 50 ms below it.
func onsets(pcm []int16) []float64 {
	const block = 48
	var rms []float64
	peak := 0.0
	for s := 0; s+block <= len(pcm); s += block {
		var e float64
		for _, v := range pcm[s : s+block] {
			e += float64(v) * float64(v)
		}
		r := math.Sqrt(e / block)
		rms = append(rms, r)
		peak = max(peak, r)
	}
	var out []float64
	quiet := 50 // silence before the start
	for i, r := range rms {
		if r < 0.3*peak {
			quiet++
			continue
		}
		if quiet >= 50 {
			// Sub-block precision: the first sample over the threshold.
			s := i * block
			for j := s; j < s+block; j++ {
				if math.Abs(float64(pcm[j])) > 0.3*peak*math.Sqrt2 {
					s = j
					break
				}
			}
			out = append(out, float64(s)/48000)
		}
		quiet = 0
	}
	return out
}
