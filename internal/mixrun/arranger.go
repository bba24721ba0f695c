package mixrun

import (
	"sync"

	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/mixproto"
)

// Arranger forwards a feed to the composite and lays out whoever is
// present, in join order, with internal/layout whenever someone comes or
// goes or the layout settings change: the order of its calls is the
// composite's timeline.
type Arranger struct {
	c       *Composite
	visible func(mixproto.Source) bool
	mu      sync.Mutex
	cfg     layout.Config
	present []mixproto.Source
}

// ArrangerOption configures an Arranger.
type ArrangerOption func(*Arranger)

// WithVisible chooses which present sources get a window (a cloud
// recording's video subscriptions); by default all do. Call Relayout
// after it changes its mind.
func WithVisible(fn func(mixproto.Source) bool) ArrangerOption {
	return func(a *Arranger) { a.visible = fn }
}

// NewArranger returns an Arranger feeding c, laid out by cfg (its Width
// and Height are the composite's canvas).
func NewArranger(c *Composite, cfg layout.Config, opts ...ArrangerOption) *Arranger {
	a := &Arranger{c: c, cfg: cfg}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Join adds a source and lays out again.
func (a *Arranger) Join(s mixproto.Source) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.c.Join(s)
	a.present = append(a.present, s)
	a.relayoutLocked()
}

// Leave removes a source and lays out again.
func (a *Arranger) Leave(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.c.Leave(id)
	for i, s := range a.present {
		if s.ID == id {
			a.present = append(a.present[:i:i], a.present[i+1:]...)
			break
		}
	}
	a.relayoutLocked()
}

// Video hands on a video unit.
func (a *Arranger) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	a.c.Video(id, pts, v, au)
}

// Audio hands on an Opus packet.
func (a *Arranger) Audio(id uint32, pts int64, pkt []byte) { a.c.Audio(id, pts, pkt) }

// SetLayout replaces the layout settings (an updateLayout).
func (a *Arranger) SetLayout(cfg layout.Config) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg = cfg
	a.relayoutLocked()
}

// Relayout lays out again (what WithVisible decides changed).
func (a *Arranger) Relayout() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.relayoutLocked()
}

func (a *Arranger) relayoutLocked() {
	ps := make([]layout.Participant, 0, len(a.present))
	for _, s := range a.present {
		if a.visible != nil && !a.visible(s) {
			continue
		}
		ps = append(ps, layout.Participant{UID: s.UID, Source: s.ID, Video: s.Video})
	}
	a.c.SetLayout(layout.Compute(a.cfg, ps))
}
