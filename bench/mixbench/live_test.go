package mixbench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// mixerBinary is the ars-mixer under test: $ARS_MIXER_BIN, else the
// repository's bin/ars-mixer (make build).
func mixerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ARS_MIXER_BIN"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "ars-mixer")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no ars-mixer: run make build or set ARS_MIXER_BIN")
	}
	return p
}

// TestLiveComposite drives the real mixer for a short two-person
// composite through this package's live driver and judges the output.
func TestLiveComposite(t *testing.T) {
	requireFFmpeg(t)
	bin := mixerBinary(t)
	ctx := context.Background()
	s := Scenarios(6 * time.Second)[0]
	inputs, err := ensureInputs(ctx, t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	r := runLive(ctx, Config{Mixer: bin, Delay: 500 * time.Millisecond}, s, inputs, t.TempDir(), time.Now().Add(2*time.Second))
	if r.Err != "" {
		t.Fatalf("mixer: %s\n%s", r.Err, r.Stderr)
	}
	c := checkLive(ctx, s, inputs, r)
	t.Logf("%.3f cores (%.2f CPU s over %.1f s; whole process %.2f s), ready after %v, max lag %v, feed late %v, files %+v, check %+v",
		ratio(r.CPUSeconds, r.MediaSeconds), r.CPUSeconds, r.MediaSeconds, r.TotalCPUSeconds, r.ReadyAfter, r.MaxLag, r.FeedLate, r.Files, c)
	if !c.OK() {
		t.Fatalf("output: %s", c.Problem)
	}
	if c.Frames < c.Expected*minFramesPct/100 {
		t.Fatalf("%d frames, real time asks for %d", c.Frames, c.Expected)
	}
	if len(r.Files) == 0 {
		t.Fatal("no FileClosed report")
	}
}
