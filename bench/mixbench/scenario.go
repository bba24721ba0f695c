package mixbench

import (
	"math"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
)

// Scenario is one composite: a canvas, its people and what they send.
type Scenario struct {
	Name   string
	Canvas mixproto.VideoConfig
	Audio  mixproto.AudioConfig
	People int
	Input  InputSpec
}

// The two composites: (a) two people at 640x360 into a 640x360
// 15 fps 500 kbit/s canvas, (b) four into 1280x720 at 30 fps. Audio is
// Agora's audioProfile 0 (48 kHz mono 48 kbit/s). The 720p bitrate is
// Agora's recommendation for 1280x720 at 30 fps.
func Scenarios(d time.Duration) []Scenario {
	return []Scenario{
		{Name: "2 people, 640x360 15 fps 500 kbit/s", People: 2,
			Canvas: mixproto.VideoConfig{Width: 640, Height: 360, FPS: 15, BitrateKbps: 500},
			Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
			Input:  InputSpec{Width: 640, Height: 360, FPS: 15, VideoKbps: 500, AudioKbps: 32, Duration: d}},
		{Name: "4 people, 1280x720 30 fps 1710 kbit/s", People: 4,
			Canvas: mixproto.VideoConfig{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 1710},
			Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
			Input:  InputSpec{Width: 640, Height: 360, FPS: 30, VideoKbps: 800, AudioKbps: 32, Duration: d}},
	}
}

// Grid is the best-fit layout of n equal windows, row by row (what
// Agora's adaptive layout gives for 2 and 4 people on a landscape
// canvas): one row of two, two rows of two. Windows crop (render mode 0).
func Grid(w, h, n int, sources []uint32) []mixproto.Window {
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	ww, wh := w/cols, h/rows
	out := make([]mixproto.Window, n)
	for i := range n {
		out[i] = mixproto.Window{Source: sources[i], X: (i % cols) * ww, Y: (i / cols) * wh, W: ww, H: wh, Alpha: 1}
	}
	return out
}
