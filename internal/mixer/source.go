package mixer

import (
	"fmt"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ars-project/ars/internal/vcodec"
)

// branch is one participant's decoding chain into an aggregator.
type branch struct {
	src   *app.Source
	elems []*gst.Element
	pad   *gst.Pad // the aggregator's request pad
	last  int64    // last PTS pushed (composite clock), -1 before any
	ended bool

	// Video only.
	codec vcodec.Codec
	keyed bool    // a keyframe went in: the decoder can start
	turn  *turner // turns the decoded pictures upright
}

// maxVideoBranches bounds the decoding chains one source's video gets
// over its life: a new one each time its codec changes (a sender that
// starts a new stream with another codec). The chains of earlier codecs
// end but stay in the pipeline, as those of sources that left do.
const maxVideoBranches = 4

// source is one participant: a video and/or an audio branch.
type source struct {
	id uint32
	// wantVideo: the source joined with video in a composite with a
	// canvas. Its video branch is built at its first unit, the first
	// time the codec is known.
	wantVideo     bool
	video         *branch
	audio         *branch
	videoBranches int
	// refused has bit 1<<codec set for a codec whose units are dropped
	// (no chain could be built, or too many codec changes), so the
	// attempt and its log line are not repeated for every unit.
	refused uint8
	// badFlags: a unit with unreadable flags was logged.
	badFlags bool
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

// decoders are the appsrc caps and the parse and decode elements of each
// codec a video branch takes: mixproto's video units as mixfeed makes
// them (H.264 access units in Annex B; VP8 and VP9 frames; AV1 temporal
// units of low-overhead OBUs, which av1parse hands to libaom's decoder
// whole). max-errors=-1: a participant's broken frame is its loss, not a
// flow error that would end its branch.
func decoders(c vcodec.Codec) (caps string, specs []string, err error) {
	switch c {
	case vcodec.H264:
		return "video/x-h264,stream-format=byte-stream,alignment=au",
			[]string{"h264parse", "avdec_h264 max-errors=-1 output-corrupt=false"}, nil
	case vcodec.VP8:
		return "video/x-vp8", []string{"vp8dec max-errors=-1"}, nil
	case vcodec.VP9:
		return "video/x-vp9", []string{"vp9dec max-errors=-1"}, nil
	case vcodec.AV1:
		return "video/x-av1,stream-format=obu-stream,alignment=tu", []string{"av1parse", "av1dec max-errors=-1"}, nil
	}
	return "", nil, fmt.Errorf("%w: no decoder for video codec %v", ErrPipeline, c)
}

// videoBranch builds source id's n-th video branch, for codec c: the
// decoder, then videoflip, which turns the pictures as the sender's
// camera orientation says (the compositor then scales the turned picture,
// so a window fits it by its turned aspect ratio), then the queue into
// the compositor.
func (m *Mixer) videoBranch(id uint32, n int, c vcodec.Codec) (*branch, error) {
	caps, dec, err := decoders(c)
	if err != nil {
		return nil, err
	}
	live := fmt.Sprint(m.cfg.Live)
	specs := append([]string{"appsrc format=time is-live=" + live + " max-bytes=16777216 block=false"}, dec...)
	flipAt := len(specs)
	specs = append(specs, "videoflip", "queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000")
	b, err := m.newBranch(fmt.Sprintf("s%d-v%d", id, n), specs, caps, m.comp, "sink_%u")
	if err != nil {
		return nil, err
	}
	b.codec = c
	b.turn = newTurner(b.elems[flipAt])
	return b, nil
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
