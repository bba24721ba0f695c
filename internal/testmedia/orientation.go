package testmedia

import (
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// StreamRGBAt decodes the picture video stream idx of path shows at `at`,
// with ffmpeg's default autorotation (the track's display matrix
// applied), as w x h RGB: what a player shows.
func StreamRGBAt(t testing.TB, path string, idx int, at time.Duration, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-map", fmt.Sprintf("0:v:%d", idx), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame of video %d at %v of %s: %v (%d bytes, want %dx%d)", idx, at, path, err, len(out), w, h)
	}
	return out
}

// TestPatternRGB is Generate's moving test pattern (testsrc2) at `at`,
// upright, as w x h RGB: the reference a decoded picture is judged by.
func TestPatternRGB(t testing.TB, at time.Duration, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25", w, h),
		"-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("test pattern at %v: %v", at, err)
	}
	return out
}

// blockMean is the mean colour of the b x b block at (x, y) of a w-wide
// RGB picture.
func blockMean(img []byte, w, x, y, b int) [3]float64 {
	var m [3]float64
	for j := y; j < y+b; j++ {
		for i := x; i < x+b; i++ {
			for c := 0; c < 3; c++ {
				m[c] += float64(img[3*(j*w+i)+c])
			}
		}
	}
	for c := range m {
		m[c] /= float64(b * b)
	}
	return m
}

// CheckUprightCorner fails the test unless got (a decoded w x h RGB
// picture) shows the reference's top-left corner at its top-left: of the
// reference's four corners, the top-left one is the nearest in colour.
// A picture turned or mirrored shows another corner there.
func CheckUprightCorner(t testing.TB, got, ref []byte, w, h int) {
	t.Helper()
	const b = 24
	tl := blockMean(got, w, 0, 0, b)
	corners := []struct {
		name string
		x, y int
	}{{"top-left", 0, 0}, {"top-right", w - b, 0}, {"bottom-left", 0, h - b}, {"bottom-right", w - b, h - b}}
	best, bestD := "", math.Inf(1)
	for _, c := range corners {
		r := blockMean(ref, w, c.x, c.y, b)
		d := math.Abs(tl[0]-r[0]) + math.Abs(tl[1]-r[1]) + math.Abs(tl[2]-r[2])
		if d < bestD {
			best, bestD = c.name, d
		}
	}
	if best != "top-left" {
		t.Errorf("the decoded picture's top-left corner %v looks like the sent picture's %s", tl, best)
	}
}
