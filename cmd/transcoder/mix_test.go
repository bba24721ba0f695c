package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// mixerBin builds cmd/ars-mixer (cgo, GStreamer) for the test.
func mixerBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ars-mixer")
	cmd := exec.Command("go", "build", "-o", bin, "../ars-mixer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ars-mixer: %v\n%s", err, out)
	}
	return bin
}

// TestMixDirectory composes a finished two-person recording (red with
// 440 Hz for 4 s; blue with 1000 Hz from 1 s to 3 s) and judges the
// MP4 by decoding it: the grid follows who is present and both tones are
// heard while their senders are.
func TestMixDirectory(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBin(t)
	if p := os.Getenv("MIXWRAP"); p != "" {
		bin = p
	}
	dir := t.TempDir()
	start := time.Date(2026, 12, 3, 10, 11, 12, 0, time.Local)
	red := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 15, GOP: 15, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, FPS: 15, GOP: 15, Color: "blue", ToneHz: 1000})
	testmedia.WriteCapture(t, filepath.Join(dir, "1_101112.tmp"), storage.Header{Version: storage.FormatVersion, Channel: "c", UID: 1, Start: start}, red)
	testmedia.WriteCapture(t, filepath.Join(dir, "2_101113.tmp"), storage.Header{Version: storage.FormatVersion, Channel: "c", UID: 2, Start: start.Add(time.Second)}, blue)

	for round, want := range []string{"mixed_101112.mp4", "mixed_101112_2.mp4"} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := run(ctx, []string{"--mix", dir, "--mixer", bin, "--background", "#00ff00"}, &stdout, &stderr)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, stderr.String())
		}
		if got := strings.TrimSpace(stdout.String()); got != filepath.Join(dir, want) {
			t.Fatalf("round %d wrote %q, want %s", round, got, want)
		}
	}
	mp4 := filepath.Join(dir, "mixed_101112.mp4")
	testmedia.Decode(t, mp4)
	p := testmedia.ProbeMP4(t, mp4)
	if v, a := p.Stream("video"), p.Stream("audio"); v == nil || a == nil || v.Codec != "h264" || a.Codec != "aac" {
		t.Fatalf("streams %+v", p)
	}
	if d := p.Duration - 4*time.Second; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("duration %v, want 4 s", p.Duration)
	}
	near := func(px []byte, c [3]int) bool {
		for i := range 3 {
			if d := int(px[i]) - c[i]; d < -60 || d > 60 {
				return false
			}
		}
		return true
	}
	const w, h = 640, 360
	at := func(img []byte, x, y int) []byte { return img[(y*w+x)*3 : (y*w+x)*3+3] }
	redC, blueC, green := [3]int{255, 0, 0}, [3]int{0, 0, 255}, [3]int{0, 255, 0}
	// Alone: red fills the canvas. Both: side by side. Alone again.
	for _, tc := range []struct {
		at   time.Duration
		x    int
		want [3]int
	}{
		{500 * time.Millisecond, w / 4, redC}, {500 * time.Millisecond, 3 * w / 4, redC},
		{2 * time.Second, w / 4, redC}, {2 * time.Second, 3 * w / 4, blueC},
		{3600 * time.Millisecond, 3 * w / 4, redC},
	} {
		if px := at(testmedia.RGBFrameAt(t, mp4, tc.at, w, h), tc.x, h/2); !near(px, tc.want) {
			t.Errorf("at %v x %d: %v, want %v", tc.at, tc.x, px, tc.want)
		}
	}
	_ = green
	pcm := testmedia.DecodeMono(t, "-i", mp4)
	empty := testmedia.ToneEnergy(pcm, 2500, 0, 4*time.Second)
	for _, tc := range []struct {
		hz       float64
		from, to time.Duration
		heard    bool
	}{
		{440, 200 * time.Millisecond, 3800 * time.Millisecond, true},
		{1000, 1300 * time.Millisecond, 2700 * time.Millisecond, true},
		{1000, 3300 * time.Millisecond, 3900 * time.Millisecond, false},
	} {
		e := testmedia.ToneEnergy(pcm, tc.hz, tc.from, tc.to)
		if heard := e > 100*empty && e > 1e-6; heard != tc.heard {
			t.Errorf("%v Hz %v-%v: energy %.3g (empty band %.3g), heard %v, want %v", tc.hz, tc.from, tc.to, e, empty, heard, tc.heard)
		}
	}
}

// TestMixDirectoryLayouts makes composites of one directory with Agora's
// other layouts: floating with uid 2 large, and custom regions from a
// layoutConfig file (uid 1 on the right half, the next user, by join
// order, in the top-left quarter).
func TestMixDirectoryLayouts(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBin(t)
	dir := t.TempDir()
	start := time.Date(2026, 12, 3, 10, 11, 12, 0, time.Local)
	red := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 15, GOP: 15, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 15, GOP: 15, Color: "blue", ToneHz: 1000})
	testmedia.WriteCapture(t, filepath.Join(dir, "1_101112.tmp"), storage.Header{Version: storage.FormatVersion, Channel: "c", UID: 1, Start: start}, red)
	testmedia.WriteCapture(t, filepath.Join(dir, "2_101112.tmp"), storage.Header{Version: storage.FormatVersion, Channel: "c", UID: 2, Start: start.Add(100 * time.Millisecond)}, blue)
	regions := filepath.Join(t.TempDir(), "layout.json")
	if err := os.WriteFile(regions, []byte(`[{"uid":"1","x_axis":0.5,"y_axis":0,"width":0.5,"height":1,"alpha":1,"render_mode":0},
		{"x_axis":0,"y_axis":0,"width":0.5,"height":0.5}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	const w, h = 640, 360
	redC, blueC, green := [3]int{255, 0, 0}, [3]int{0, 0, 255}, [3]int{0, 255, 0}
	for _, tc := range []struct {
		name   string
		args   []string
		points [][2]int
		want   [][3]int
	}{
		{"floating, uid 2 large", []string{"--layout", "floating", "--max-resolution-uid", "2"},
			[][2]int{{w / 2, h / 4}, {w * 12 / 100, h * 87 / 100}}, [][3]int{blueC, redC}},
		{"custom from a layoutConfig file", []string{"--layout", "3", "--layout-config", regions},
			[][2]int{{w * 3 / 4, h / 2}, {w / 4, h / 4}, {w / 4, h * 3 / 4}}, [][3]int{redC, blueC, green}},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := run(ctx, append([]string{"--mix", dir, "--mixer", bin, "--background", "#00ff00"}, tc.args...), &stdout, &stderr)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, stderr.String())
		}
		mp4 := strings.TrimSpace(stdout.String())
		testmedia.Decode(t, mp4)
		img := testmedia.RGBFrameAt(t, mp4, 1500*time.Millisecond, w, h)
		for i, p := range tc.points {
			px := img[(p[1]*w+p[0])*3 : (p[1]*w+p[0])*3+3]
			for c := range 3 {
				if d := int(px[c]) - tc.want[i][c]; d < -60 || d > 60 {
					t.Errorf("%s: (%d,%d) = %v, want %v", tc.name, p[0], p[1], px, tc.want[i])
					break
				}
			}
		}
	}
	for _, bad := range [][]string{{"--layout", "diagonal"}, {"--layout", "custom"}, {"--layout", "vertical"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append([]string{"--mix", dir, "--mixer", bin}, bad...), &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}
