package loadgen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// MediaOptions choose the media every participant sends. Zero values get
// the defaults of the capacity target: 640x360 at 25 fps, 450 kbit/s
// H.264 Baseline and 32 kbit/s Opus in 20 ms frames.
type MediaOptions struct {
	Duration     time.Duration // length of the loop; default 20s
	Width        int
	Height       int
	FPS          int
	VideoKbps    int
	AudioKbps    int
	PacketSize   int // RTP payload budget given to ffmpeg; default 1200
	KeyframeSecs int // GOP length in seconds; default 2
}

// WithDefaults fills in the zero values.
func (o MediaOptions) WithDefaults() MediaOptions {
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 640, 360
	}
	if o.FPS <= 0 {
		o.FPS = 25
	}
	if o.VideoKbps <= 0 {
		o.VideoKbps = 450
	}
	if o.AudioKbps <= 0 {
		o.AudioKbps = 32
	}
	if o.PacketSize <= 0 {
		o.PacketSize = 1200
	}
	if o.KeyframeSecs <= 0 {
		o.KeyframeSecs = 2
	}
	return o
}

// name identifies the media by every option, so that a cached folder is
// only reused for identical settings.
func (o MediaOptions) name() string {
	return fmt.Sprintf("%dx%d-%dfps-v%dk-a%dk-%ds-p%d-g%d", o.Width, o.Height, o.FPS, o.VideoKbps, o.AudioKbps,
		int(o.Duration/time.Second), o.PacketSize, o.KeyframeSecs)
}

// Media is one generated set: the elementary streams ffmpeg wrote, and the
// same bitstreams packetized to RTP by ffmpeg, kept as a capture file.
type Media struct {
	Dir      string
	Options  MediaOptions
	VideoES  string // H.264 Annex B
	AudioES  string // Ogg Opus
	Capture  string // storage capture with both RTP streams
	Duration time.Duration
}

// EnsureMedia makes the media under root (once; later calls with the same
// options reuse the folder) and returns where it is.
func EnsureMedia(ctx context.Context, root string, o MediaOptions) (Media, error) {
	o = o.WithDefaults()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return Media{}, ErrNoFFmpeg
	}
	dir := filepath.Join(root, o.name())
	m := Media{
		Dir: dir, Options: o, Duration: o.Duration,
		VideoES: filepath.Join(dir, "video.h264"),
		AudioES: filepath.Join(dir, "audio.ogg"),
		Capture: filepath.Join(dir, "packets.cap"),
	}
	if _, err := os.Stat(m.Capture); err == nil {
		return m, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Media{}, fmt.Errorf("media dir: %w", err)
	}
	if err := encodeES(ctx, o, m); err != nil {
		return Media{}, err
	}
	// The capture is written under a temporary name so that an
	// interrupted run never leaves a half capture that looks complete.
	tmp := m.Capture + ".part"
	if err := packetize(ctx, o, m, tmp); err != nil {
		_ = os.Remove(tmp)
		return Media{}, err
	}
	if err := os.Rename(tmp, m.Capture); err != nil {
		return Media{}, fmt.Errorf("media: %w", err)
	}
	return m, nil
}

// encodeES encodes the test pattern and tone once into elementary streams.
func encodeES(ctx context.Context, o MediaOptions, m Media) error {
	secs := fmt.Sprintf("%.3f", o.Duration.Seconds())
	gop := fmt.Sprint(o.FPS * o.KeyframeSecs)
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", secs,
		"-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-bf", "0",
		"-b:v", fmt.Sprintf("%dk", o.VideoKbps), "-maxrate", fmt.Sprintf("%dk", o.VideoKbps),
		"-bufsize", fmt.Sprintf("%dk", o.VideoKbps),
		"-f", "h264", m.VideoES,
		"-t", secs,
		"-map", "1:a", "-c:a", "libopus", "-ac", "2", "-ar", "48000", "-b:a", fmt.Sprintf("%dk", o.AudioKbps),
		"-frame_duration", "20", "-f", "ogg", m.AudioES,
	}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ffmpeg encode: %w\n%s", ErrMedia, err, out)
	}
	return nil
}
