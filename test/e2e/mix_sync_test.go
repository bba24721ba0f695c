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
