package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Flash-and-beep media: once a second, at the same instant, a white
// picture and a 1 kHz tone, each lasting flashLen, on black and silence.
// The instant both start is what the composite's A/V sync is judged on.
const (
	beepHz   = 1000
	flashLen = 0.2 // seconds
	// maxAVSkew is issue 13's bound on a flash and its beep in the
	// composite.
	maxAVSkew = 80 * time.Millisecond
)

// flashBeepSources are the lavfi inputs of the flash-and-beep media at
// fps: the picture and the sound are computed from the same t, so in the
// source they agree to the sample.
func flashBeepSources(fps int) (video, audio string) {
	video = fmt.Sprintf("color=c=black:size=320x240:rate=%d,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,1),%g)'", fps, flashLen)
	audio = fmt.Sprintf("aevalsrc=exprs='if(lt(mod(t,1),%g),0.5*sin(2*PI*%d*t),0)':sample_rate=48000", flashLen, beepHz)
	return video, audio
}

// sendFlashBeep runs ffmpeg sending the flash-and-beep media as H.264
// and Opus RTP with fixed SSRCs to port (like sendMedia).
func sendFlashBeep(ctx context.Context, port int, videoSSRC, audioSSRC uint32, seconds float64, fps int) *exec.Cmd {
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	dur := strconv.FormatFloat(seconds, 'f', 2, 64)
	v, a := flashBeepSources(fps)
	args := []string{"-hide_banner", "-loglevel", "error",
		"-re", "-t", dur, "-f", "lavfi", "-i", v,
		"-re", "-t", dur, "-f", "lavfi", "-i", a,
		"-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-tune", "zerolatency",
		"-g", strconv.Itoa(fps), "-pix_fmt", "yuv420p", "-b:v", "300k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(videoSSRC), 10), "-payload_type", "96", url,
		"-map", "1:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(audioSSRC), 10), "-payload_type", "111", url,
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stdout = io.Discard
	return cmd
}

// avOnsets decodes path once and returns the times (seconds, on the
// file's own timeline, shared by both streams) where the picture at the
// centre of the window (cx, cy) turns bright and where the 1 kHz band
// turns loud.
func avOnsets(t *testing.T, path string, cx, cy int) (video, audio []float64) {
	t.Helper()
	dir := t.TempDir()
	vf, af := filepath.Join(dir, "luma.txt"), filepath.Join(dir, "band.txt")
	// 240-sample (5 ms) blocks of the band around the beep, their RMS
	// level; the mean luma of 8x8 pixels at the window centre per frame.
	graph := fmt.Sprintf("[0:v]crop=8:8:%d:%d,signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=%s[v];"+
		"[0:a]aresample=48000,pan=mono|c0=c0,bandpass=f=%d:width_type=h:w=300,asetnsamples=n=240:p=0,"+
		"astats=metadata=1:reset=1:measure_overall=RMS_level:measure_perchannel=none,"+
		"ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=%s[a]",
		max(cx-4, 0), max(cy-4, 0), vf, beepHz, af)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-filter_complex", graph,
		"-map", "[v]", "-map", "[a]", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("analyse %s: %v\n%s", path, err, out)
	}
	luma := readMetadataSeries(t, vf, "lavfi.signalstats.YAVG")
	level := readMetadataSeries(t, af, "lavfi.astats.Overall.RMS_level")
	// Black is luma 16, white 235: half way is a flash. The beep's
	// blocks stand ~60 dB over silence (-inf): -30 dBFS is half way.
	return rises(luma, 128), rises(level, -30)
}

type sample struct{ t, v float64 }

// readMetadataSeries reads what the metadata/ametadata filters printed:
// "frame:N pts:P pts_time:T" lines, each followed by "key=value".
func readMetadataSeries(t *testing.T, path, key string) []sample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sample
	cur := math.NaN()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "pts_time:"); i >= 0 {
			cur, _ = strconv.ParseFloat(strings.Fields(line[i+len("pts_time:"):])[0], 64)
			continue
		}
		if v, ok := strings.CutPrefix(line, key+"="); ok && !math.IsNaN(cur) {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
				x = -200 // silence: astats prints -inf
			}
			out = append(out, sample{cur, x})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no %s values", path, key)
	}
	return out
}

// rises are the times a series crosses above threshold from below.
func rises(s []sample, threshold float64) []float64 {
	var out []float64
	for i := 1; i < len(s); i++ {
		if s[i-1].v < threshold && s[i].v >= threshold {
			out = append(out, s[i].t)
		}
	}
	return out
}

// avSkews pairs every flash with the nearest beep onset and returns
// beep - flash for each, in order. Flashes without a beep within half a
// period are reported with ok false.
func avSkews(video, audio []float64) (skews []time.Duration, unpaired int) {
	for _, v := range video {
		best := math.Inf(1)
		for _, a := range audio {
			if math.Abs(a-v) < math.Abs(best) {
				best = a - v
			}
		}
		if math.Abs(best) > 0.5 {
			unpaired++
			continue
		}
		skews = append(skews, time.Duration(best*float64(time.Second)))
	}
	return skews, unpaired
}

// checkAVSync fails the test unless the composite at path shows at
// least minFlashes flashes in the window centred at (cx, cy), each with
// its beep within maxAVSkew.
func checkAVSync(t *testing.T, path string, cx, cy, minFlashes int) []time.Duration {
	t.Helper()
	video, audio := avOnsets(t, path, cx, cy)
	skews, unpaired := avSkews(video, audio)
	t.Logf("%s: %d flashes, %d beeps; beep - flash: %v", filepath.Base(path), len(video), len(audio), skews)
	if len(skews) < minFlashes || unpaired > 0 {
		t.Errorf("%d flashes paired with a beep (%d without one), want at least %d", len(skews), unpaired, minFlashes)
	}
	for i, s := range skews {
		if s < -maxAVSkew || s > maxAVSkew {
			t.Errorf("flash %d: the beep is %v from the flash (at most %v)", i, s, maxAVSkew)
		}
	}
	return skews
}

// TestFlashBeepDetector checks the A/V sync measure itself on files
// ffmpeg makes from the flash-and-beep media: in sync it measures ~0, and
// with the sound moved 200 ms late it measures 200 ms, which the mix
// test's bound refuses.
func TestFlashBeepDetector(t *testing.T) {
	requireFFmpeg(t)
	v, a := flashBeepSources(30)
	for _, tc := range []struct {
		name  string
		shift float64 // seconds the sound is moved late
	}{{"in sync", 0}, {"sound 200 ms late", 0.2}} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "fb.ts")
			args := []string{"-nostdin", "-v", "error", "-t", "6", "-f", "lavfi", "-i", v,
				"-itsoffset", strconv.FormatFloat(tc.shift, 'f', 3, 64), "-t", "6", "-f", "lavfi", "-i", a,
				"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
				"-c:a", "aac", "-b:a", "64k", "-f", "mpegts", out}
			if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, b)
			}
			video, audio := avOnsets(t, out, 160, 120)
			skews, unpaired := avSkews(video, audio)
			t.Logf("flashes %v beeps %v skews %v", video, audio, skews)
			if len(skews) < 5 || unpaired > 0 {
				t.Fatalf("%d paired flashes (%d unpaired), want 5", len(skews), unpaired)
			}
			want := time.Duration(tc.shift * float64(time.Second))
			slices.Sort(skews)
			if med := skews[len(skews)/2]; med < want-25*time.Millisecond || med > want+25*time.Millisecond {
				t.Fatalf("median skew %v, want %v", med, want)
			}
			inBound := skews[0] >= -maxAVSkew && skews[len(skews)-1] <= maxAVSkew
			if inBound != (tc.shift == 0) {
				t.Fatalf("skews %v within %v: %v", skews, maxAVSkew, inBound)
			}
		})
	}
}

// TestMixSyncFlashBeep records a flash-and-beep sender in mix mode (one
// participant, best fit: the whole 640x360 30 fps canvas is its window)
// and measures, in the composite HLS, each flash against its beep.
func TestMixSyncFlashBeep(t *testing.T) {
	requireFFmpeg(t)
	const (
		cname = "mixsync"
		secs  = 10.0
		fps   = 30
	)
	localDir := t.TempDir()
	d := mixDaemon(t, localDir)
	m := newMixRec(t, d, localDir, cname)
	m.start(m.body(&mixTranscodingConfig{Width: 640, Height: 360, FPS: fps, BitRate: 800,
		MixedVideoLayout: 1, BackgroundColor: "#000000"}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 61, 0x6161, 0x6162)
	send := sendFlashBeep(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, secs, fps)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}
	playlist := m.local(m.stop().playlist())
	decodeSilently(t, playlist)
	if got := playlistSeconds(t, playlist); math.Abs(got-secs) > 1.5 {
		t.Errorf("the composite lasts %.2f s, %.0f s were sent", got, secs)
	}
	// Every second's flash but the first (before the first keyframe
	// reached the mixer) and the last (cut by the stop).
	checkAVSync(t, playlist, 320, 180, int(secs)-3)
}

// windowMean is the mean colour of a square of side 2r at (cx, cy).
func windowMean(img []byte, w, cx, cy, r int) [3]float64 {
	var s [3]float64
	n := 0.0
	for y := cy - r; y < cy+r; y++ {
		for x := cx - r; x < cx+r; x++ {
			o := (y*w + x) * 3
			for k := range 3 {
				s[k] += float64(img[o+k])
			}
			n++
		}
	}
	for k := range 3 {
		s[k] /= n
	}
	return s
}

// windowDiff is the mean absolute difference of two frames over a square
// of side 2r at (cx, cy): above a few levels, the picture moved.
func windowDiff(a, b []byte, w, cx, cy, r int) float64 {
	var d, n float64
	for y := cy - r; y < cy+r; y++ {
		for x := cx - r; x < cx+r; x++ {
			o := (y*w + x) * 3
			for k := range 3 {
				d += math.Abs(float64(a[o+k]) - float64(b[o+k]))
			}
			n += 3
		}
	}
	return d / n
}

// rgbFrameAt decodes the frame at `at` of path as w x h RGB.
func rgbFrameAt(t *testing.T, path string, at float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(at, 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame at %.1f s of %s: %v (%d bytes, want %d)", at, path, err, len(out), w*h*3)
	}
	return out
}

// TestMixChromiumAndFFmpeg mixes one Chromium publisher over WHIP (its
// fake camera: a moving pattern) and one ffmpeg RTP sender: in the
// composite both windows show moving video, not the canvas colour, and
// the composite decodes silently.
func TestMixChromiumAndFFmpeg(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	requireChromium(t)
	requireFFmpeg(t)
	const (
		cname     = "mixbrowser"
		webrtcUID = 71
		rtpUID    = 72
		w, h      = 640, 360
		bg        = 0xff00ff // magenta: neither source shows it
	)
	localDir := t.TempDir()
	d := mixDaemon(t, localDir, "ARS_WEBRTC_PORT="+strconv.Itoa(freeICEPort(t)))
	m := newMixRec(t, d, localDir, cname)
	m.start(m.body(&mixTranscodingConfig{Width: w, Height: h, FPS: 15, BitRate: 500,
		MixedVideoLayout: 1, BackgroundColor: fmt.Sprintf("#%06X", bg)}))

	b := startBrowser(t)
	pg := b.publish(d, cname, webrtcUID)
	t0 := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, rtpUID, 0x7271, 0x7272)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 8)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}
	pg.click("unpublish")
	pg.waitJS("publishing stopped", `document.getElementById('publish-status').dataset.state === 'idle'`, 10*time.Second)
	t.Logf("chromium published for %v", time.Since(t0).Round(time.Millisecond))

	playlist := m.local(m.stop().playlist())
	decodeSilently(t, playlist)
	// The ffmpeg sender's 8 s ended just before the stop, and Chromium
	// published through them: sample the middle of those 8 s (counted
	// back from the composite's end), 1 s apart. Best fit with two
	// people: two halves side by side, in join order.
	total := playlistSeconds(t, playlist)
	centres := [][2]int{{w / 4, h / 2}, {3 * w / 4, h / 2}}
	names := []string{"chromium", "ffmpeg"}
	var frames [][]byte
	for _, at := range []float64{total - 6, total - 5, total - 4} {
		frames = append(frames, rgbFrameAt(t, playlist, at, w, h))
	}
	bgc := [3]float64{bg >> 16, bg >> 8 & 0xff, bg & 0xff}
	for i, cc := range centres {
		for j, f := range frames {
			m := windowMean(f, w, cc[0], cc[1], 40)
			if math.Abs(m[0]-bgc[0]) < 40 && math.Abs(m[1]-bgc[1]) < 40 && math.Abs(m[2]-bgc[2]) < 40 {
				t.Errorf("%s window shows the canvas colour in sample %d (mean %v)", names[i], j, m)
			}
		}
		moved := 0.0
		for j := 1; j < len(frames); j++ {
			moved = max(moved, windowDiff(frames[j-1], frames[j], w, cc[0], cc[1], 80))
		}
		t.Logf("%s window: mean %v, largest change between samples %.1f levels", names[i], windowMean(frames[0], w, cc[0], cc[1], 40), moved)
		if moved < 2 {
			t.Errorf("%s window does not change over time (%.2f levels)", names[i], moved)
		}
	}
}
