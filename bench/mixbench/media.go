package mixbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ars-project/ars/internal/ogg"
)

// Person is one participant of a benchmark channel: the colour of the
// box at the centre of its picture (a moving test pattern around it, so
// the encoder and decoders do real work) and its tone.
type Person struct {
	UID    string
	Source uint32
	Color  uint32 // 0xRRGGBB
	ToneHz float64
}

// People are the participants, in join order: distinct colours and
// tones far apart, none near EmptyBandHz.
var People = []Person{
	{UID: "1001", Source: 1, Color: 0xe02020, ToneHz: 400},
	{UID: "1002", Source: 2, Color: 0x20c020, ToneHz: 700},
	{UID: "1003", Source: 3, Color: 0x2040e0, ToneHz: 1000},
	{UID: "1004", Source: 4, Color: 0xe0e020, ToneHz: 1300},
}

// EmptyBandHz is a frequency no participant sends: the noise floor the
// tones are compared with.
const EmptyBandHz = 2500

// InputSpec is what every participant sends.
type InputSpec struct {
	Width, Height, FPS int
	VideoKbps          int
	AudioKbps          int
	Duration           time.Duration
}

func (s InputSpec) name() string {
	return fmt.Sprintf("%dx%d-%dfps-v%dk-a%dk-%dms", s.Width, s.Height, s.FPS, s.VideoKbps, s.AudioKbps, s.Duration.Milliseconds())
}

// Input is one participant's media, encoded and split.
type Input struct {
	Person
	Spec    InputSpec
	VideoES string // H.264 Annex B file
	AudioES string // Ogg Opus file
	Video   []AccessUnit
	Audio   [][]byte // Opus packets of 20 ms, headers dropped
}

// opusFrame is the Opus packet duration the inputs are encoded with.
const opusFrame = 20 * time.Millisecond

// boxFraction is the part of each side of the picture the colour box
// covers, centred.
const boxW, boxH = 0.3, 0.3

// EnsureInput encodes p's media under root once (reused for the same
// spec) and splits it.
func EnsureInput(ctx context.Context, root string, spec InputSpec, p Person) (*Input, error) {
	dir := filepath.Join(root, spec.name())
	in := &Input{Person: p, Spec: spec,
		VideoES: filepath.Join(dir, "video-"+p.UID+".h264"),
		AudioES: filepath.Join(dir, "audio-"+p.UID+".ogg")}
	if _, err := os.Stat(in.AudioES); err != nil {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
		if err := encodeInput(ctx, spec, p, in.VideoES, in.AudioES); err != nil {
			return nil, err
		}
	}
	vb, err := os.ReadFile(in.VideoES)
	if err != nil {
		return nil, err
	}
	in.Video = SplitAnnexB(vb)
	ab, err := os.ReadFile(in.AudioES)
	if err != nil {
		return nil, err
	}
	pkts, err := ogg.Packets(ab)
	if err != nil {
		return nil, err
	}
	if len(pkts) < 3 || len(in.Video) == 0 || !in.Video[0].Key {
		return nil, fmt.Errorf("%w: %s: %d access units (first key %v), %d Opus packets", ErrMedia, p.UID,
			len(in.Video), len(in.Video) > 0 && in.Video[0].Key, len(pkts))
	}
	in.Audio = pkts[2:] // OpusHead, OpusTags
	return in, nil
}

// encodeInput writes the participant's elementary streams. SPS and PPS
// go in front of every keyframe (repeat-headers), as the protocol wants
// them and as a sender's RTP stream carries them.
func encodeInput(ctx context.Context, s InputSpec, p Person, vpath, apath string) error {
	bw, bh := even(float64(s.Width)*boxW), even(float64(s.Height)*boxH)
	src := fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,drawbox=x=%d:y=%d:w=%d:h=%d:color=0x%06x@1:t=fill",
		s.Width, s.Height, s.FPS, (s.Width-bw)/2, (s.Height-bh)/2, bw, bh, p.Color)
	secs := fmt.Sprintf("%.3f", s.Duration.Seconds())
	gop := strconv.Itoa(2 * s.FPS)
	kb := func(n int) string { return strconv.Itoa(n) + "k" }
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", src,
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%g:sample_rate=48000", p.ToneHz),
		"-t", secs, "-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-bf", "0",
		"-b:v", kb(s.VideoKbps), "-maxrate", kb(s.VideoKbps), "-bufsize", kb(s.VideoKbps),
		"-x264-params", "repeat-headers=1", "-f", "h264", vpath + ".part",
		"-t", secs, "-map", "1:a", "-c:a", "libopus", "-ac", "1", "-ar", "48000", "-b:a", kb(s.AudioKbps),
		"-frame_duration", "20", "-f", "ogg", apath + ".part",
	}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ffmpeg: %w: %s", ErrMedia, err, out)
	}
	if err := os.Rename(vpath+".part", vpath); err != nil {
		return err
	}
	// The audio file is renamed last: its presence says both are whole.
	return os.Rename(apath+".part", apath)
}

func even(f float64) int { return int(f) &^ 1 }
