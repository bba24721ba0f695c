package mixer

import (
	"sync"

	"github.com/go-gst/go-gst/gst"

	"github.com/ars-project/ars/internal/vcodec"
)

// maxTurns bounds the orientation changes waiting for their picture: a
// sender that changes orientation every frame cannot grow the list
// without limit (the oldest change is forgotten; a later one overrides it
// anyway).
const maxTurns = 256

// direction is videoflip's video-direction that shows a picture as o
// says: rotated clockwise by o.Rotation, then mirrored left-right if
// o.Flip. A mirror after a quarter turn is a flip across a diagonal: 90
// clockwise then mirrored maps (x, y) to (y, x), the upper-left/lower-right
// diagonal; 270 then mirrored the other one; 180 then mirrored is a
// vertical flip.
func direction(o vcodec.Orientation) string {
	switch r := o.Rotation; {
	case !o.Flip && r == 90:
		return "90r"
	case !o.Flip && r == 180:
		return "180"
	case !o.Flip && r == 270:
		return "90l"
	case o.Flip && r == 0:
		return "horiz"
	case o.Flip && r == 90:
		return "ul-lr"
	case o.Flip && r == 180:
		return "vert"
	case o.Flip && r == 270:
		return "ur-ll"
	}
	return "identity"
}

// turn is an orientation change: from the picture at running time rt on,
// videoflip shows pictures so.
type turn struct {
	rt  int64
	dir string
}

// turner applies a video branch's orientation changes at the pictures of
// the units that brought them. A unit reaches videoflip as a picture only
// after the decoder (and, in an offline composite, up to seconds of
// queued input), so setting videoflip when the unit is pushed would turn
// pictures before it; instead the change waits here, keyed by the unit's
// running time, and a probe on videoflip's sink pad applies it when the
// first picture at or after that time arrives (decoders keep each
// picture's timestamp). videoflip renegotiates its output size for a
// quarter turn before that picture, so the compositor scales and fits
// the turned picture.
type turner struct {
	flip *gst.Element

	mu      sync.Mutex
	pending []turn
	want    vcodec.Orientation // the last unit's (media's goroutine)
	shown   string             // what videoflip does now (streaming thread)
}

func newTurner(flip *gst.Element) *turner {
	t := &turner{flip: flip, shown: "identity"}
	flip.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		if buf := info.GetBuffer(); buf != nil {
			if pts := buf.PresentationTimestamp(); pts != gst.ClockTimeNone {
				t.picture(int64(pts))
			}
		}
		return gst.PadProbeOK
	})
	return t
}

// unit notes the orientation of a unit about to be pushed at running
// time rt.
func (t *turner) unit(rt int64, o vcodec.Orientation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.SameView(t.want) {
		return
	}
	t.want = o
	if len(t.pending) == maxTurns {
		t.pending = append(t.pending[:0], t.pending[1:]...)
	}
	t.pending = append(t.pending, turn{rt: rt, dir: direction(o)})
}

// picture runs on the streaming thread before videoflip handles the
// picture at running time pts.
func (t *turner) picture(pts int64) {
	t.mu.Lock()
	dir, n := "", 0
	for n < len(t.pending) && t.pending[n].rt <= pts {
		dir = t.pending[n].dir
		n++
	}
	t.pending = append(t.pending[:0], t.pending[n:]...)
	t.mu.Unlock()
	if dir != "" && dir != t.shown {
		t.flip.SetArg("video-direction", dir)
		t.shown = dir
	}
}
