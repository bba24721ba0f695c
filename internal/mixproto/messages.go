package mixproto

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Canvas limits, as Agora's: width x height at most 1920x1080 (either
// orientation), at most 17 windows.
const (
	MaxPixels  = 1920 * 1080
	MaxSide    = 1920
	MaxWindows = 17
	MaxFPS     = 60
)

// Config is the first frame: what to compose and where to write it.
type Config struct {
	// Live composites follow the wall clock and keep producing frames
	// when inputs stall; offline ones run as fast as they can.
	Live bool `json:"live"`
	// OriginMonotonic is CLOCK_MONOTONIC, in ns, at PTS 0 (live only).
	OriginMonotonic int64 `json:"originMonotonic"`
	// OriginUnixMs is the wall clock at PTS 0: the UTC in segment names.
	OriginUnixMs int64 `json:"originUnixMs"`
	// Delay is how far behind PTS the live output runs, in ms, so that
	// late units (network jitter, a slow pipe) still make their frame.
	DelayMs int `json:"delayMs"`

	Video *VideoConfig `json:"video,omitempty"` // nil: an audio-only composite
	Audio AudioConfig  `json:"audio"`
	// Layout is the first layout; TypeLayout frames replace it.
	Layout Layout `json:"layout"`

	// OutDir is the absolute directory every output file goes in.
	OutDir string     `json:"outDir"`
	HLS    *HLSOutput `json:"hls,omitempty"`
	MP4    *MP4Output `json:"mp4,omitempty"`
}

// VideoConfig is the canvas and its encoding.
type VideoConfig struct {
	Width       int `json:"width"`
	Height      int `json:"height"`
	FPS         int `json:"fps"`
	BitrateKbps int `json:"bitrateKbps"`
}

// AudioConfig is the mixed audio's encoding (AAC).
type AudioConfig struct {
	Rate        int `json:"rate"`
	Channels    int `json:"channels"`
	BitrateKbps int `json:"bitrateKbps"`
}

// HLSOutput asks for MPEG-TS segments named Prefix_<UTC>.ts, where UTC
// is yyyyMMddHHmmssSSS of the segment's first frame. The daemon writes
// the playlist from FileClosed frames, so a restarted mixer continues it.
type HLSOutput struct {
	Prefix         string `json:"prefix"`
	SegmentSeconds int    `json:"segmentSeconds"`
}

// MP4Output asks for MP4 files. Pattern holds one %d for the file index
// when the output splits (MaxBytes or MaxSeconds > 0); otherwise it is
// the file name itself.
type MP4Output struct {
	Pattern    string `json:"pattern"`
	FirstIndex int    `json:"firstIndex"`
	MaxBytes   int64  `json:"maxBytes,omitempty"`
	MaxSeconds int    `json:"maxSeconds,omitempty"`
}

// Layout is the whole picture: the canvas colour and every window, in
// canvas pixels. Windows are drawn in Z order; a window whose source has
// no video (yet) shows the canvas.
type Layout struct {
	Background uint32   `json:"background"` // 0xRRGGBB
	Windows    []Window `json:"windows"`
}

// Window places one source's video.
type Window struct {
	Source uint32  `json:"source"`
	X      int     `json:"x"`
	Y      int     `json:"y"`
	W      int     `json:"w"`
	H      int     `json:"h"`
	Z      int     `json:"z"`
	Alpha  float64 `json:"alpha"`
	// Fit scales the whole picture into the window (bars where the
	// aspect ratios differ); otherwise it is cropped to fill the window.
	Fit bool `json:"fit"`
}

// Source announces a participant's streams (TypeJoin).
type Source struct {
	ID    uint32 `json:"id"`
	UID   string `json:"uid"`
	Video bool   `json:"video"`
	Audio bool   `json:"audio"`
}

// Leave ends a source (TypeLeave).
type Leave struct {
	ID uint32 `json:"id"`
}

// FileClosed reports a finished output file (TypeFileClosed).
type FileClosed struct {
	Kind       string `json:"kind"` // "ts" or "mp4"
	Name       string `json:"name"` // base name inside Config.OutDir
	StartPTS   int64  `json:"startPts"`
	DurationNs int64  `json:"durationNs"`
	Bytes      int64  `json:"bytes"`
}

// Output file kinds.
const (
	KindTS  = "ts"
	KindMP4 = "mp4"
)

// Progress reports how far the output has got (TypeProgress).
type Progress struct {
	PTS    int64 `json:"pts"`    // output position, ns on the composite's clock
	Frames int64 `json:"frames"` // video frames encoded so far
}

// Error is the mixer's last word before a non-zero exit (TypeError).
type Error struct {
	Message string `json:"message"`
}

// Validate checks a Config before the mixer builds anything from it.
func (c *Config) Validate() error {
	if c.Video != nil {
		v := c.Video
		if v.Width < 16 || v.Height < 16 || v.Width > MaxSide || v.Height > MaxSide || v.Width*v.Height > MaxPixels {
			return fmt.Errorf("%w: canvas %dx%d (16..1920 a side, at most 1920x1080 pixels)", ErrBadConfig, v.Width, v.Height)
		}
		if v.FPS < 1 || v.FPS > MaxFPS {
			return fmt.Errorf("%w: fps %d", ErrBadConfig, v.FPS)
		}
		if v.BitrateKbps < 1 || v.BitrateKbps > 100000 {
			return fmt.Errorf("%w: bitrate %d", ErrBadConfig, v.BitrateKbps)
		}
	}
	a := c.Audio
	if a.Rate != 48000 || (a.Channels != 1 && a.Channels != 2) || a.BitrateKbps < 8 || a.BitrateKbps > 512 {
		return fmt.Errorf("%w: audio %d Hz x%d %d kbit/s", ErrBadConfig, a.Rate, a.Channels, a.BitrateKbps)
	}
	if c.DelayMs < 0 || c.DelayMs > 10000 {
		return fmt.Errorf("%w: delay %d ms", ErrBadConfig, c.DelayMs)
	}
	if !filepath.IsAbs(c.OutDir) {
		return fmt.Errorf("%w: output directory %q is not absolute", ErrBadConfig, c.OutDir)
	}
	if c.HLS == nil && c.MP4 == nil {
		return fmt.Errorf("%w: no output", ErrBadConfig)
	}
	if c.HLS != nil {
		if err := baseName(c.HLS.Prefix); err != nil {
			return err
		}
		if c.HLS.SegmentSeconds < 1 || c.HLS.SegmentSeconds > 60 {
			return fmt.Errorf("%w: segment length %d s", ErrBadConfig, c.HLS.SegmentSeconds)
		}
	}
	if c.MP4 != nil {
		m := c.MP4
		if err := baseName(m.Pattern); err != nil {
			return err
		}
		split := m.MaxBytes > 0 || m.MaxSeconds > 0
		if n := strings.Count(m.Pattern, "%"); (split && (n != 1 || !strings.Contains(m.Pattern, "%d"))) || (!split && n != 0) {
			return fmt.Errorf("%w: mp4 pattern %q", ErrBadConfig, m.Pattern)
		}
		if m.MaxBytes < 0 || m.MaxSeconds < 0 || m.FirstIndex < 0 {
			return fmt.Errorf("%w: mp4 split", ErrBadConfig)
		}
	}
	return c.Layout.Validate(c.Video)
}

// Validate checks a layout against the canvas (nil: audio only).
func (l *Layout) Validate(v *VideoConfig) error {
	if l.Background > 0xffffff {
		return fmt.Errorf("%w: background %#x", ErrBadConfig, l.Background)
	}
	if len(l.Windows) > MaxWindows {
		return fmt.Errorf("%w: %d windows (at most %d)", ErrBadConfig, len(l.Windows), MaxWindows)
	}
	for _, w := range l.Windows {
		if v == nil {
			return fmt.Errorf("%w: windows in an audio-only composite", ErrBadConfig)
		}
		if w.W < 1 || w.H < 1 || w.X < 0 || w.Y < 0 || w.X+w.W > v.Width || w.Y+w.H > v.Height {
			return fmt.Errorf("%w: window %+v outside the %dx%d canvas", ErrBadConfig, w, v.Width, v.Height)
		}
		if w.Alpha < 0 || w.Alpha > 1 {
			return fmt.Errorf("%w: alpha %v", ErrBadConfig, w.Alpha)
		}
		if w.Z < 0 || w.Z > 100 {
			return fmt.Errorf("%w: z %d", ErrBadConfig, w.Z)
		}
	}
	return nil
}

func baseName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") || len(s) > 200 {
		return fmt.Errorf("%w: file name %q", ErrBadConfig, s)
	}
	return nil
}
