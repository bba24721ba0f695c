package layout

import (
	"fmt"
	"math"
	"strconv"

	"github.com/ars-project/ars/internal/mixproto"
)

// Mode is Agora's transcodingConfig.mixedVideoLayout.
type Mode int

// The layout modes, numbered as Agora's mixedVideoLayout.
const (
	Floating Mode = 0
	BestFit  Mode = 1
	Vertical Mode = 2
	Custom   Mode = 3
)

// Region is one entry of Agora's layoutConfig: where the participant
// with UID goes, in fractions of the canvas.
type Region struct {
	UID        string
	X, Y, W, H float64 // fractions of the canvas
	Alpha      float64 // 0 means 1 (Agora's default 1.0)
	Fit        bool    // render_mode 1: scale to fit; otherwise crop
}

// Config is a composite's layout settings.
type Config struct {
	Width, Height    int
	Mode             Mode
	MaxResolutionUID string
	Background       uint32 // 0xRRGGBB
	Regions          []Region
}

// Participant is one user present, in join order.
type Participant struct {
	UID    string
	Source uint32
	Video  bool
}

// Floating layout geometry, fractions of the canvas side.
const (
	floatSize = 0.235
	floatGap  = 0.012
	floatCols = 4
	floatRows = 4
)

// Compute lays out the participants present (in join order) on the
// canvas. It returns at most mixproto.MaxWindows windows; participants
// beyond that get none.
func Compute(cfg Config, present []Participant) mixproto.Layout {
	l := mixproto.Layout{Background: cfg.Background, Windows: []mixproto.Window{}}
	if cfg.Width < 2 || cfg.Height < 2 || len(present) == 0 {
		return l
	}
	switch cfg.Mode {
	case Custom:
		l.Windows = custom(cfg, present)
	case BestFit:
		l.Windows = bestFit(cfg, limit(present))
	case Vertical:
		big, others := split(cfg, present)
		l.Windows = vertical(cfg, big, others)
	default: // Floating, and any unknown mode (Agora's default)
		big, others := split(cfg, present)
		l.Windows = floating(cfg, big, others)
	}
	return l
}

func limit(p []Participant) []Participant {
	if len(p) > mixproto.MaxWindows {
		return p[:mixproto.MaxWindows]
	}
	return p
}

// split picks the big participant (MaxResolutionUID if present, else the
// first) and the others in join order, at most MaxWindows-1 of them.
func split(cfg Config, present []Participant) (Participant, []Participant) {
	bi := 0
	if cfg.MaxResolutionUID != "" {
		for i, p := range present {
			if p.UID == cfg.MaxResolutionUID {
				bi = i
				break
			}
		}
	}
	others := make([]Participant, 0, len(present)-1)
	for i, p := range present {
		if i != bi {
			others = append(others, p)
		}
	}
	if len(others) > mixproto.MaxWindows-1 {
		others = others[:mixproto.MaxWindows-1]
	}
	return present[bi], others
}

// even rounds v to the nearest even integer.
func even(v float64) int {
	return 2 * int(math.Round(v/2))
}

// evenFloor is n rounded down to an even number.
func evenFloor(n int) int { return n &^ 1 }

// edge is the even pixel of fraction f along a side of n pixels, inside
// [0, n] (n itself only when n is even).
func edge(f float64, n int) int {
	v := even(f * float64(n))
	if v < 0 {
		v = 0
	}
	if m := evenFloor(n); v > m {
		v = m
	}
	return v
}

func window(p Participant, x0, y0, x1, y1, z int) mixproto.Window {
	return mixproto.Window{Source: p.Source, X: x0, Y: y0, W: x1 - x0, H: y1 - y0, Z: z, Alpha: 1}
}

func full(cfg Config, p Participant) mixproto.Window {
	return window(p, 0, 0, evenFloor(cfg.Width), evenFloor(cfg.Height), 0)
}

func floating(cfg Config, big Participant, others []Participant) []mixproto.Window {
	ws := []mixproto.Window{full(cfg, big)}
	if len(others) > floatCols*floatRows {
		others = others[:floatCols*floatRows]
	}
	for i, p := range others {
		col, row := i%floatCols, i/floatCols // row 0 is the bottom one
		fx := floatGap + float64(col)*(floatSize+floatGap)
		fy := 1 - float64(row+1)*(floatSize+floatGap)
		x0, x1 := edge(fx, cfg.Width), edge(fx+floatSize, cfg.Width)
		y0, y1 := edge(fy, cfg.Height), edge(fy+floatSize, cfg.Height)
		if x1 <= x0 || y1 <= y0 {
			continue // canvas too small for small windows
		}
		ws = append(ws, window(p, x0, y0, x1, y1, 1))
	}
	return ws
}

// grid is BestFit's columns and rows for n participants.
func grid(n int) (cols, rows int) {
	switch {
	case n <= 1:
		return 1, 1
	case n == 2:
		return 2, 1
	case n <= 4:
		return 2, 2
	case n <= 9:
		return 3, 3
	case n <= 16:
		return 4, 4
	default:
		return 5, 4
	}
}

func bestFit(cfg Config, ps []Participant) []mixproto.Window {
	cols, rows := grid(len(ps))
	ws := make([]mixproto.Window, 0, len(ps))
	for i, p := range ps {
		c, r := i%cols, i/cols
		x0 := edge(float64(c)/float64(cols), cfg.Width)
		x1 := edge(float64(c+1)/float64(cols), cfg.Width)
		y0 := edge(float64(r)/float64(rows), cfg.Height)
		y1 := edge(float64(r+1)/float64(rows), cfg.Height)
		if x1 <= x0 || y1 <= y0 {
			continue
		}
		ws = append(ws, window(p, x0, y0, x1, y1, 0))
	}
	return ws
}

func vertical(cfg Config, big Participant, others []Participant) []mixproto.Window {
	if len(others) == 0 {
		return []mixproto.Window{full(cfg, big)}
	}
	per, cols := 4, 1 // cells per column, columns
	switch {
	case len(others) > 8:
		per, cols = 8, 2
	case len(others) > 4:
		per = 8
	}
	// The strip of columns starts at 1 - cols/per of the width.
	strip := edge(1-float64(cols)/float64(per), cfg.Width)
	ws := []mixproto.Window{window(big, 0, 0, strip, evenFloor(cfg.Height), 0)}
	for i, p := range others {
		c, r := i/per, i%per
		x0 := edge(1-float64(cols-c)/float64(per), cfg.Width)
		x1 := edge(1-float64(cols-c-1)/float64(per), cfg.Width)
		y0 := edge(float64(r)/float64(per), cfg.Height)
		y1 := edge(float64(r+1)/float64(per), cfg.Height)
		if x1 <= x0 || y1 <= y0 {
			continue
		}
		ws = append(ws, window(p, x0, y0, x1, y1, 1))
	}
	return ws
}

// custom places each region's participant; Z is the region's index, so
// later regions are drawn above earlier ones.
func custom(cfg Config, present []Participant) []mixproto.Window {
	byUID := make(map[string]Participant, len(present))
	named := make(map[string]bool, len(cfg.Regions))
	for _, p := range present {
		if _, dup := byUID[p.UID]; !dup {
			byUID[p.UID] = p
		}
	}
	for _, r := range cfg.Regions {
		if r.UID != "" {
			named[r.UID] = true
		}
	}
	// Regions without a uid take, in join order, the participants no
	// region names (Agora: "matched in the order users join").
	var unnamed []Participant
	for _, p := range present {
		if !named[p.UID] {
			unnamed = append(unnamed, p)
		}
	}
	used := make(map[string]bool)
	ws := []mixproto.Window{}
	for i, r := range cfg.Regions {
		if len(ws) == mixproto.MaxWindows {
			break
		}
		var p Participant
		if r.UID == "" {
			if len(unnamed) == 0 {
				continue
			}
			p, unnamed = unnamed[0], unnamed[1:]
		} else {
			var ok bool
			if p, ok = byUID[r.UID]; !ok || used[r.UID] {
				continue
			}
		}
		x0, y0 := edge(r.X, cfg.Width), edge(r.Y, cfg.Height)
		x1, y1 := edge(r.X+r.W, cfg.Width), edge(r.Y+r.H, cfg.Height)
		if x1 <= x0 || y1 <= y0 {
			continue // nothing left of it inside the canvas
		}
		used[p.UID] = true
		w := window(p, x0, y0, x1, y1, min(i, 100))
		if r.Alpha > 0 && r.Alpha <= 1 {
			w.Alpha = r.Alpha
		}
		w.Fit = r.Fit
		ws = append(ws, w)
	}
	return ws
}

// ParseColor parses Agora's backgroundColor, "#RRGGBB", into 0xRRGGBB.
func ParseColor(s string) (uint32, error) {
	if len(s) != 7 || s[0] != '#' {
		return 0, fmt.Errorf("%w: %q (want #RRGGBB)", ErrBadColor, s)
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("%w: %q (want #RRGGBB)", ErrBadColor, s)
		}
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrBadColor, s, err)
	}
	return uint32(v), nil
}

// eps absorbs float error in sums such as 0.7+0.3.
const eps = 1e-9

// Validate checks the settings as Agora's start and updateLayout would.
func (c Config) Validate() error {
	if c.Width < 0 || c.Height < 0 || c.Width > mixproto.MaxSide || c.Height > mixproto.MaxSide {
		return fmt.Errorf("%w: canvas %dx%d", ErrBadLayout, c.Width, c.Height)
	}
	if c.Mode < Floating || c.Mode > Custom {
		return fmt.Errorf("%w: mixedVideoLayout %d (0..3)", ErrBadLayout, c.Mode)
	}
	if c.Mode == Vertical && c.MaxResolutionUID == "" {
		return fmt.Errorf("%w: the vertical layout needs maxResolutionUid", ErrBadLayout)
	}
	if c.Background > 0xffffff {
		return fmt.Errorf("%w: background %#x", ErrBadLayout, c.Background)
	}
	if len(c.Regions) > mixproto.MaxWindows {
		return fmt.Errorf("%w: %d regions (at most %d)", ErrBadLayout, len(c.Regions), mixproto.MaxWindows)
	}
	seen := make(map[string]bool, len(c.Regions))
	for i, r := range c.Regions {
		for _, v := range []float64{r.X, r.Y, r.W, r.H, r.Alpha} {
			if math.IsNaN(v) || v < 0 || v > 1 {
				return fmt.Errorf("%w: region %d: values must be in 0..1: %+v", ErrBadLayout, i, r)
			}
		}
		if r.X+r.W > 1+eps || r.Y+r.H > 1+eps {
			return fmt.Errorf("%w: region %d leaves the canvas: %+v", ErrBadLayout, i, r)
		}
		if r.UID != "" {
			if seen[r.UID] {
				return fmt.Errorf("%w: region %d: uid %q twice", ErrBadLayout, i, r.UID)
			}
			seen[r.UID] = true
		}
	}
	return nil
}
