package mixer

import (
	"fmt"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// branch is one participant's decoding chain into an aggregator.
type branch struct {
	src   *app.Source
	elems []*gst.Element
	pad   *gst.Pad // the aggregator's request pad
	last  int64    // last PTS pushed (composite clock), -1 before any
	ended bool
}

// source is one participant: a video and/or an audio branch.
type source struct {
	id    uint32
	video *branch
	audio *branch
}

// newBranch creates elements from factories (each "factory prop=value
// ..." with the first word the factory), adds and links them, links the
// last to a new request pad of agg and brings them to the pipeline's
// state.
func (m *Mixer) newBranch(prefix string, specs []string, caps string, agg *gst.Element, aggTemplate string) (*branch, error) {
	b := &branch{last: -1}
	for i, spec := range specs {
		factory, props := splitSpec(spec)
		e, err := gst.NewElementWithName(factory, fmt.Sprintf("%s-%d-%s", prefix, i, factory))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPipeline, factory, err)
		}
		for _, kv := range props {
			e.SetArg(kv[0], kv[1])
		}
		b.elems = append(b.elems, e)
	}
	if err := m.pipe.AddMany(b.elems...); err != nil {
		return nil, fmt.Errorf("%w: add: %v", ErrPipeline, err)
	}
	if err := gst.ElementLinkMany(b.elems...); err != nil {
		return nil, fmt.Errorf("%w: link: %v", ErrPipeline, err)
	}
	b.src = app.SrcFromElement(b.elems[0])
	b.src.SetCaps(gst.NewCapsFromString(caps))
	b.pad = agg.GetRequestPad(aggTemplate)
	if b.pad == nil {
		return nil, fmt.Errorf("%w: no %s pad", ErrPipeline, aggTemplate)
	}
	last := b.elems[len(b.elems)-1]
	if r := last.GetStaticPad("src").Link(b.pad); r != gst.PadLinkOK {
		return nil, fmt.Errorf("%w: link to the aggregator: %v", ErrPipeline, r)
	}
	// Downstream first, appsrc last: an element brought up activates its
	// pads before its start() has run, and appsrc's streaming thread
	// pushes the caps the moment it runs. Upstream first, that caps event
	// reached an h264parse whose NAL parser gst_h264_nal_parser_new had
	// not yet made, and GStreamer 1.22 died with SIGSEGV in
	// h264parse's set_caps (the restarted mixer of TestMixedRecordingLive,
	// TestLiveRestartJoins under load).
	for i := len(b.elems) - 1; i >= 0; i-- {
		if !b.elems[i].SyncStateWithParent() {
			return nil, fmt.Errorf("%w: %s did not follow the pipeline's state", ErrPipeline, b.elems[i].GetName())
		}
	}
	return b, nil
}

// splitSpec splits "factory a=1 b=2".
func splitSpec(spec string) (string, [][2]string) {
	var factory string
	var props [][2]string
	for i, w := range splitFields(spec) {
		if i == 0 {
			factory = w
			continue
		}
		for j := 0; j < len(w); j++ {
			if w[j] == '=' {
				props = append(props, [2]string{w[:j], w[j+1:]})
				break
			}
		}
	}
	return factory, props
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

func (m *Mixer) videoBranch(id uint32) (*branch, error) {
	live := fmt.Sprint(m.cfg.Live)
	return m.newBranch(fmt.Sprintf("s%d-v", id), []string{
		"appsrc format=time is-live=" + live + " max-bytes=16777216 block=false",
		"h264parse",
		"avdec_h264 max-errors=-1 output-corrupt=false",
		"queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000",
	}, "video/x-h264,stream-format=byte-stream,alignment=au", m.comp, "sink_%u")
}

func (m *Mixer) audioBranch(id uint32) (*branch, error) {
	live := fmt.Sprint(m.cfg.Live)
	return m.newBranch(fmt.Sprintf("s%d-a", id), []string{
		"appsrc format=time is-live=" + live + " max-bytes=4194304 block=false",
		"opusdec plc=true max-errors=-1",
		"audioconvert",
		"audioresample",
		"capsfilter caps=" + rawAudioCaps(m.cfg.Audio.Channels),
		"queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000",
	}, "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000", m.amix, "sink_%u")
}
