package mixfeed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/testmedia"
)

// mixerBinary returns an ars-mixer to run: $ARS_MIXER_BIN, or one built
// from cmd/ars-mixer (cgo, GStreamer). The test skips when neither can be
// had: the mixer is a separate, native binary.
func mixerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ARS_MIXER_BIN"); p != "" {
		return p
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "ars-mixer")); err != nil {
		t.Skip("no cmd/ars-mixer in this tree")
	}
	bin := filepath.Join(t.TempDir(), "ars-mixer")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ars-mixer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("ars-mixer does not build here: %v\n%s", err, out)
	}
	return bin
}

// pipeTarget is a Target writing mixproto frames to a mixer's stdin, as
// mixrun does, without supervision: the test wants the feed and the
// mixer, nothing between.
type pipeTarget struct {
	w   *mixproto.Writer
	err error
}

func (p *pipeTarget) note(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}
func (p *pipeTarget) Join(s mixproto.Source) { p.note(p.w.WriteJSON(mixproto.TypeJoin, s)) }
func (p *pipeTarget) Leave(id uint32) {
	p.note(p.w.WriteJSON(mixproto.TypeLeave, mixproto.Leave{ID: id}))
}
func (p *pipeTarget) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	p.note(p.w.WriteMedia(mixproto.TypeVideo, mixproto.Media{Source: id, PTS: pts, Flags: v.Flags(), Data: au}))
}
func (p *pipeTarget) Audio(id uint32, pts int64, pkt []byte) {
	p.note(p.w.WriteMedia(mixproto.TypeAudio, mixproto.Media{Source: id, PTS: pts, Data: pkt}))
}

// TestOfflineMixer feeds a real ars-mixer, offline, from a two-person
// recording (red with a 440 Hz tone for 4 s; blue with 880 Hz joining at
// 1 s and leaving at 3 s) into a side-by-side layout on a green canvas, and
// judges the MP4 by decoding it: pixels at the window centres and the
// tones' energy, before, during and after the second participant.
func TestOfflineMixer(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBinary(t)
	red := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "blue", ToneHz: 880})
	dir := writeRecording(t, []capture{
		{name: "1_070809.tmp", uid: 1, streams: red},
		{name: "2_070810.tmp", uid: 2, start: time.Second, streams: blue},
	})
	out := t.TempDir()
	const w, h = 640, 360
	cfg := mixproto.Config{
		OriginUnixMs: recStart.UnixMilli(),
		Video:        &mixproto.VideoConfig{Width: w, Height: h, FPS: 15, BitrateKbps: 500},
		Audio:        mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
		Layout: mixproto.Layout{Background: 0x00ff00, Windows: []mixproto.Window{
			{Source: 1, X: 0, Y: 0, W: w / 2, H: h, Alpha: 1},
			{Source: 2, X: w / 2, Y: 0, W: w / 2, H: h, Alpha: 1},
		}},
		OutDir: out,
		MP4:    &mixproto.MP4Output{Pattern: "mixed.mp4"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		frames []mixproto.Frame
		rerr   error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := mixproto.NewReader(stdout)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rerr = err
				}
				return
			}
			frames = append(frames, mixproto.Frame{Type: f.Type, Body: bytes.Clone(f.Body)})
		}
	}()
	pt := &pipeTarget{w: mixproto.NewWriter(stdin)}
	pt.note(pt.w.WriteJSON(mixproto.TypeConfig, cfg))
	info, err := Offline(dir, pt)
	if err != nil {
		t.Fatal(err)
	}
	pt.note(pt.w.WriteJSON(mixproto.TypeEnd, nil))
	pt.note(pt.w.Flush())
	_ = stdin.Close()
	wg.Wait()
	werr := cmd.Wait()
	if pt.err != nil || werr != nil || rerr != nil {
		t.Fatalf("mixer: write %v, exit %v, read %v\n%s", pt.err, werr, rerr, stderr.String())
	}
	var done, closed bool
	for _, f := range frames {
		switch f.Type {
		case mixproto.TypeDone:
			done = true
		case mixproto.TypeFileClosed:
			var fc mixproto.FileClosed
			if err := mixproto.Decode(f.Body, &fc); err == nil && fc.Name == "mixed.mp4" {
				closed = true
			}
		case mixproto.TypeError:
			t.Fatalf("mixer error %s", f.Body)
		}
	}
	if !done || !closed {
		t.Fatalf("mixer said done=%v file closed=%v (%d frames)\n%s", done, closed, len(frames), stderr.String())
	}
	mp4 := filepath.Join(out, "mixed.mp4")
	testmedia.Decode(t, mp4)
	probe := testmedia.ProbeMP4(t, mp4)
	if d := probe.Duration - info.Duration; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("composite lasts %v, the recording %v", probe.Duration, info.Duration)
	}
	if v, a := probe.Stream("video"), probe.Stream("audio"); v == nil || a == nil || v.Codec != "h264" || a.Codec != "aac" {
		t.Fatalf("streams %+v", probe)
	}
	green, redC, blueC := [3]int{0, 255, 0}, [3]int{255, 0, 0}, [3]int{0, 0, 255}
	pcm := decodePCM(t, mp4)
	for _, tc := range []struct {
		at          time.Duration
		left, right [3]int
		blue        bool // the 880 Hz tone is heard
	}{
		{500 * time.Millisecond, redC, green, false},
		{2 * time.Second, redC, blueC, true},
		{3500 * time.Millisecond, redC, green, false},
	} {
		img := frameAt(t, mp4, tc.at, w, h)
		for _, p := range []struct {
			x    int
			want [3]int
		}{{w / 4, tc.left}, {3 * w / 4, tc.right}} {
			got := pixel(img, w, p.x, h/2)
			if !near(got, p.want, 60) {
				t.Errorf("at %v, x %d: colour %v, want %v", tc.at, p.x, got, p.want)
			}
		}
		from := int((tc.at - 300*time.Millisecond).Seconds() * 48000)
		seg := pcm[from : from+48000*6/10]
		e440, e880, empty := goertzel(seg, 440), goertzel(seg, 880), goertzel(seg, 1900)
		t.Logf("at %v: 440 Hz %.3g, 880 Hz %.3g, 1900 Hz %.3g", tc.at, e440, e880, empty)
		if e440 < 100*empty {
			t.Errorf("at %v the 440 Hz tone is missing", tc.at)
		}
		if tc.blue && e880 < 100*empty {
			t.Errorf("at %v the 880 Hz tone is missing", tc.at)
		}
		if !tc.blue && e880 > e440/20 {
			t.Errorf("at %v an 880 Hz tone is heard without its participant", tc.at)
		}
	}
}

func frameAt(t *testing.T, path string, at time.Duration, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64),
		"-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame at %v: %v, %d bytes", at, err, len(out))
	}
	return out
}

func pixel(img []byte, w, x, y int) [3]int {
	i := (y*w + x) * 3
	return [3]int{int(img[i]), int(img[i+1]), int(img[i+2])}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

// decodePCM decodes the audio to 48 kHz mono samples.
func decodePCM(t *testing.T, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", "48000",
		"-f", "s16le", "-").Output()
	if err != nil {
		t.Fatalf("decode audio: %v", err)
	}
	pcm := make([]float64, len(out)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
	}
	return pcm
}

// goertzel is the energy of samples at freq (48 kHz).
func goertzel(x []float64, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/48000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+k*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(x)*len(x))
}
