package mixrun

import (
	"sync"

	"github.com/ars-project/ars/internal/mixproto"
)

// Grid forwards a feed to the composite and lays out whoever is
// present, in join order, as a best-fit grid whenever someone comes or
// goes (the feed's order of calls is the timeline).
type Grid struct {
	c       *Composite
	canvas  mixproto.VideoConfig
	bg      uint32
	mu      sync.Mutex
	present []mixproto.Source
}

// NewGrid returns a Grid feeding c, a composite on canvas.
func NewGrid(c *Composite, canvas mixproto.VideoConfig, background uint32) *Grid {
	return &Grid{c: c, canvas: canvas, bg: background}
}

// Join adds a source and re-flows the grid.
func (g *Grid) Join(s mixproto.Source) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.c.Join(s)
	g.present = append(g.present, s)
	g.relayout()
}

// Leave removes a source and re-flows the grid.
func (g *Grid) Leave(id uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.c.Leave(id)
	for i, s := range g.present {
		if s.ID == id {
			g.present = append(g.present[:i:i], g.present[i+1:]...)
			break
		}
	}
	g.relayout()
}

// Video hands on an access unit.
func (g *Grid) Video(id uint32, pts int64, key bool, au []byte) { g.c.Video(id, pts, key, au) }

// Audio hands on an Opus packet.
func (g *Grid) Audio(id uint32, pts int64, pkt []byte) { g.c.Audio(id, pts, pkt) }

func (g *Grid) relayout() {
	l := mixproto.Layout{Background: g.bg}
	var vids []uint32
	for _, s := range g.present {
		if s.Video {
			vids = append(vids, s.ID)
		}
	}
	l.Windows = grid(vids, g.canvas.Width, g.canvas.Height)
	g.c.SetLayout(l)
}

// grid places n pictures in the smallest square-ish grid (1, 2 side by
// side, 2x2, 3x3, ...), cropped to fill their cells.
func grid(ids []uint32, w, h int) []mixproto.Window {
	n := min(len(ids), mixproto.MaxWindows)
	if n == 0 {
		return nil
	}
	cols := 1
	for cols*cols < n {
		cols++
	}
	rows := (n + cols - 1) / cols
	if n == 2 {
		cols, rows = 2, 1
	}
	cw, ch := w/cols&^1, h/rows&^1
	out := make([]mixproto.Window, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, mixproto.Window{Source: ids[i], X: i % cols * cw, Y: i / cols * ch, W: cw, H: ch, Alpha: 1})
	}
	return out
}
