package mixer

import (
	"fmt"
	"strings"

	"github.com/go-gst/go-gst/gst"

	"github.com/ars-project/ars/internal/mixproto"
)

// rawAudioCaps is what every audio input is converted to before the
// mixer, so that audiomixer never renegotiates.
func rawAudioCaps(channels int) string {
	return fmt.Sprintf("audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=%d", channels)
}

// latencyNs is the aggregators' own latency in a live composite: how long
// past a frame's time they wait for late inputs before drawing it.
const latencyNs = 100_000_000

// describe builds the fixed part of the pipeline: the canvas, the mixer,
// the encoders and the sinks. Sources are added at run time.
func describe(c *mixproto.Config, tsTmp, mp4Tmp string) string {
	live := fmt.Sprint(c.Live)
	var b strings.Builder
	if v := c.Video; v != nil {
		fmt.Fprintf(&b, "videotestsrc name=bg is-live=%s pattern=solid-color foreground-color=%d ! "+
			"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1 ! "+
			"compositor name=comp background=black ignore-inactive-pads=true latency=%d ! "+
			"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1 ! "+
			"x264enc name=venc tune=zerolatency speed-preset=veryfast bitrate=%d key-int-max=%d threads=2 ! "+
			"video/x-h264,profile=high ! tee name=vt ",
			live, 0xff000000|c.Layout.Background, v.Width, v.Height, v.FPS, latencyNs,
			v.Width, v.Height, v.FPS, v.BitrateKbps, 2*v.FPS)
	}
	fmt.Fprintf(&b, "audiotestsrc name=abg is-live=%s wave=silence samplesperbuffer=960 ! %s ! "+
		"audiomixer name=amix ignore-inactive-pads=true latency=%d ! audioconvert ! "+
		"avenc_aac name=aenc bitrate=%d ! aacparse ! tee name=at ",
		live, rawAudioCaps(c.Audio.Channels), latencyNs, c.Audio.BitrateKbps*1000)
	describeSinks(&b, c, tsTmp, mp4Tmp)
	return b.String()
}

// describeSinks adds the outputs: HLS segments and MP4 files, fed by the
// tees vt (H.264, absent when c.Video is nil) and at (AAC). The
// compositor and the web recorder write the same outputs through it.
func describeSinks(b *strings.Builder, c *mixproto.Config, tsTmp, mp4Tmp string) {
	if h := c.HLS; h != nil {
		fmt.Fprintf(b, "splitmuxsink name=ts muxer-factory=mpegtsmux max-size-time=%d send-keyframe-requests=%v async-finalize=false location=%s ",
			int64(h.SegmentSeconds)*1e9, c.Video != nil, tsTmp)
		if c.Video != nil {
			b.WriteString("vt. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=33554432 ! h264parse ! ts.video ")
		}
		b.WriteString("at. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=8388608 ! ts.audio_0 ")
	}
	if m := c.MP4; m != nil {
		// muxer::: splitmuxsink's own mp4mux (the muxer-factory and
		// muxer-properties settings only apply with async-finalize).
		fmt.Fprintf(b, "splitmuxsink name=mp4 muxer-factory=mp4mux muxer::fragment-duration=1000 muxer::fragment-mode=first-moov-then-finalise "+
			"max-size-time=%d max-size-bytes=%d send-keyframe-requests=%v location=%s ",
			int64(m.MaxSeconds)*1e9, m.MaxBytes, c.Video != nil && m.MaxSeconds > 0, mp4Tmp)
		if c.Video != nil {
			b.WriteString("vt. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=33554432 ! h264parse ! mp4.video ")
		}
		b.WriteString("at. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=8388608 ! mp4.audio_0 ")
	}
}

// element returns a named element of the pipeline.
func element(p *gst.Pipeline, name string) (*gst.Element, error) {
	e, err := p.GetElementByName(name)
	if err != nil || e == nil {
		return nil, fmt.Errorf("%w: no element %s", ErrPipeline, name)
	}
	return e, nil
}
