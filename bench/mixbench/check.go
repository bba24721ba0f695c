package mixbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
)

// Check is what decoding one composite found.
type Check struct {
	VideoCodec string  `json:"videoCodec"`
	AudioCodec string  `json:"audioCodec"`
	Frames     int     `json:"frames"`   // decoded video frames
	Expected   int     `json:"expected"` // media seconds x fps
	Seconds    float64 `json:"seconds"`  // video packet span
	// Windows holds, per sampled instant, whether each window's centre
	// showed its participant's colour.
	WindowsOK int `json:"windowsOk"`
	WindowsN  int `json:"windowsN"`
	// ToneDB is each participant's tone over the empty band, in dB.
	ToneDB  []float64 `json:"toneDb"`
	Problem string    `json:"problem,omitempty"` // empty: every check passed
}

// OK reports whether every check passed.
func (c Check) OK() bool { return c.Problem == "" }

// colorTolerance is the largest per-channel difference between a
// window's centre and its participant's colour after two lossy encodes
// and a YUV 4:2:0 round trip.
const colorTolerance = 48

// minToneDB is how far above the empty band each tone must stand.
const minToneDB = 20

// CheckOutput decodes path and judges it against the layout and the
// people in it; media is how long the composite was fed.
func CheckOutput(ctx context.Context, path string, canvas mixproto.VideoConfig, windows []mixproto.Window, people []Person, media time.Duration) (c Check) {
	c.Expected = int(math.Round(media.Seconds() * float64(canvas.FPS)))
	var problems []string
	add := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	defer func() { c.Problem = strings.Join(problems, "; ") }()

	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		add("decode: %v %s", err, lastLine(string(out)))
		return c
	}
	c.VideoCodec, c.Frames, err = probeVideo(ctx, path)
	if err != nil {
		add("%v", err)
		return c
	}
	c.AudioCodec = probeCodec(ctx, path, "a:0")
	if c.VideoCodec != "h264" || c.AudioCodec != "aac" {
		add("codecs %q + %q, want h264 + aac", c.VideoCodec, c.AudioCodec)
	}
	if span, err := packetSpan(ctx, path, "v:0"); err == nil {
		c.Seconds = span.Seconds()
	}
	for _, frac := range []float64{0.25, 0.5, 0.75} {
		at := time.Duration(frac * float64(media))
		img, err := frameAt(ctx, path, at, canvas.Width, canvas.Height)
		if err != nil {
			add("frame at %v: %v", at, err)
			continue
		}
		for i, w := range windows {
			c.WindowsN++
			got := img.meanRGB(w.X+w.W/2, w.Y+w.H/2, 3)
			if colorNear(got, people[i].Color) {
				c.WindowsOK++
			} else {
				add("at %v window %d centre %06x, want %06x", at, i, got, people[i].Color)
			}
		}
	}
	pcm, err := decodeAudio(ctx, path)
	if err != nil {
		add("audio: %v", err)
		return c
	}
	// The first and last second hold the start and the end of the mix.
	if skip := 48000; len(pcm) > 3*skip {
		pcm = pcm[skip : len(pcm)-skip]
	}
	empty := goertzel(pcm, EmptyBandHz)
	for _, p := range people {
		db := 10 * math.Log10(goertzel(pcm, p.ToneHz)/math.Max(empty, 1e-9))
		c.ToneDB = append(c.ToneDB, math.Round(db*10)/10)
		if db < minToneDB {
			add("tone %g Hz only %.1f dB over the empty band", p.ToneHz, db)
		}
	}
	return c
}

func colorNear(got, want uint32) bool {
	for sh := 0; sh <= 16; sh += 8 {
		a, b := int(got>>sh&0xff), int(want>>sh&0xff)
		if a-b > colorTolerance || b-a > colorTolerance {
			return false
		}
	}
	return true
}

func probeCodec(ctx context.Context, path, sel string) string {
	out, _ := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", sel,
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
	return strings.TrimSpace(string(out))
}

// probeVideo is the codec and the number of frames a decoder reads.
func probeVideo(ctx context.Context, path string) (string, int, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		return "", 0, fmt.Errorf("%w: ffprobe: %w", ErrOutput, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 2 {
		return "", 0, fmt.Errorf("%w: no video stream (%q)", ErrOutput, out)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return f[0], 0, fmt.Errorf("%w: frame count %q", ErrOutput, f[1])
	}
	return f[0], n, nil
}

// packetSpan is the stream's last packet end minus its first start.
func packetSpan(ctx context.Context, path, sel string) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", sel,
		"-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, err
	}
	first, last, n := math.Inf(1), 0.0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		end := pts
		if len(f) > 1 {
			if d, err := strconv.ParseFloat(f[1], 64); err == nil {
				end += d
			}
		}
		first, last = math.Min(first, pts), math.Max(last, end)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: no packets", ErrOutput)
	}
	return time.Duration((last - first) * float64(time.Second)), nil
}

type rgbImage struct {
	w, h int
	pix  []byte
}

func (im rgbImage) meanRGB(cx, cy, r int) uint32 {
	var s [3]int
	n := 0
	for y := max(cy-r, 0); y <= min(cy+r, im.h-1); y++ {
		for x := max(cx-r, 0); x <= min(cx+r, im.w-1); x++ {
			o := (y*im.w + x) * 3
			s[0] += int(im.pix[o])
			s[1] += int(im.pix[o+1])
			s[2] += int(im.pix[o+2])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return uint32(s[0]/n)<<16 | uint32(s[1]/n)<<8 | uint32(s[2]/n)
}

func frameAt(ctx context.Context, path string, at time.Duration, w, h int) (rgbImage, error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-ss", fmt.Sprintf("%.3f", at.Seconds()),
		"-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		return rgbImage{}, err
	}
	if len(out) != w*h*3 {
		return rgbImage{}, fmt.Errorf("%w: frame of %d bytes, want %dx%d", ErrOutput, len(out), w, h)
	}
	return rgbImage{w: w, h: h, pix: out}, nil
}

func decodeAudio(ctx context.Context, path string) ([]float64, error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-vn",
		"-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	if err != nil {
		return nil, err
	}
	pcm := make([]float64, len(out)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:])))
	}
	return pcm, nil
}

// goertzel is the signal's mean power at freq (48 kHz samples).
func goertzel(x []float64, freq float64) float64 {
	if len(x) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/48000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+k*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(x)*len(x))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
