package mixbench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// TestInputsAndFFmpegComposite encodes two participants, checks the
// splitters against what ffmpeg wrote, composes them with the ffmpeg
// CLI and judges the composite, then judges it against the wrong people
// to see the checks fail.
func TestInputsAndFFmpegComposite(t *testing.T) {
	requireFFmpeg(t)
	ctx := context.Background()
	dir := t.TempDir()
	s := Scenarios(4 * time.Second)[0]
	var inputs []*Input
	for _, p := range People[:2] {
		in, err := EnsureInput(ctx, dir, s.Input, p)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, in)
	}
	in := inputs[0]
	if got, want := len(in.Video), 4*s.Input.FPS; got != want {
		t.Fatalf("%d access units, want %d", got, want)
	}
	for i, au := range in.Video {
		if want := i%(2*s.Input.FPS) == 0; au.Key != want {
			t.Fatalf("unit %d key %v", i, au.Key)
		}
	}
	if got, want := len(in.Audio), int(4*time.Second/opusFrame); got < want-1 || got > want+1 {
		t.Fatalf("%d Opus packets, want %d", got, want)
	}
	for i, p := range in.Audio {
		if len(p) == 0 || opusDuration(p[0]) != opusFrame {
			t.Fatalf("packet %d TOC %#x: not one 20 ms frame", i, p[0])
		}
	}
	wins := Grid(s.Canvas.Width, s.Canvas.Height, 2, []uint32{1, 2})
	r := RunFFmpeg(ctx, filepath.Join(dir, "ff"), s, X264{Preset: "veryfast"}, inputs, wins, false)
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	c := CheckOutput(ctx, r.Output, s.Canvas, wins, People[:2], s.Input.Duration)
	if !c.OK() || c.Frames < c.Expected-1 {
		t.Fatalf("ffmpeg composite: %+v", c)
	}
	t.Logf("ffmpeg composite: %+v, %.2f CPU s for %.0f s", c, r.TotalCPUSeconds, r.MediaSeconds)
	bad := CheckOutput(ctx, r.Output, s.Canvas, wins, []Person{People[1], People[2]}, s.Input.Duration)
	if bad.OK() {
		t.Fatalf("the checks passed with the wrong people: %+v", bad)
	}
}

// opusDuration is the length of a one-frame Opus packet from its TOC
// byte (RFC 6716 section 3.1); 0 for packets of several frames.
func opusDuration(toc byte) time.Duration {
	if toc&3 != 0 {
		return 0
	}
	c := int(toc >> 3)
	ms := []float64{10, 20, 40, 60}[c%4]
	switch {
	case c >= 16:
		ms = []float64{2.5, 5, 10, 20}[c%4]
	case c >= 12:
		ms = []float64{10, 20}[c%2]
	}
	return time.Duration(ms * float64(time.Millisecond))
}
