package testmedia

import (
	"math"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RGBFrameAt decodes the frame a file shows at `at` as w*h rgb24 bytes:
// composite tests read participants' colours at window centres.
func RGBFrameAt(t testing.TB, path string, at time.Duration, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame at %v of %s: %v (%d bytes)", at, path, err, len(out))
	}
	return out
}

// DecodeMono decodes a file's sound as mono 48 kHz samples (ffmpeg may
// read an input list when args come first, e.g. "-f", "concat", ...).
func DecodeMono(t testing.TB, args ...string) []int16 {
	t.Helper()
	cmd := append([]string{"-v", "error"}, args...)
	raw, err := exec.Command("ffmpeg", append(cmd, "-f", "s16le", "-ac", "1", "-ar", "48000", "-")...).Output()
	if err != nil {
		t.Fatalf("decode %v: %v", args, err)
	}
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
	}
	return pcm
}

// ToneEnergy is the mean power of a tone of hz (Goertzel, 100 ms blocks)
// in mono 48 kHz samples between from and to: a tone is heard when it is
// far above an empty band's.
func ToneEnergy(pcm []int16, hz float64, from, to time.Duration) float64 {
	a, b := int(from.Seconds()*48000), min(int(to.Seconds()*48000), len(pcm))
	const n = 4800
	k := 2 * math.Cos(2*math.Pi*hz/48000)
	var sum float64
	var blocks int
	for s := max(a, 0); s+n <= b; s += n {
		var s1, s2 float64
		for _, v := range pcm[s : s+n] {
			s0 := float64(v)/32768 + k*s1 - s2
			s2, s1 = s1, s0
		}
		sum += (s1*s1 + s2*s2 - k*s1*s2) / n / n
		blocks++
	}
	if blocks == 0 {
		return 0
	}
	return sum / float64(blocks)
}
