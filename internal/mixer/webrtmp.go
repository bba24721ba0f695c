package mixer

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/netguard"
)

// rtmpOut is one RTMP push of a web recording. The recording's encoded
// video and audio reach two appsinks (webRecorder.build); their samples
// are pushed into a pipeline of the push's own:
//
//	appsrc ! h264parse ! flvmux ! rtmp2sink, appsrc ! aacparse ! flvmux
//
// A target that refuses, drops or stalls fails that pipeline only: its
// error goes to its own bus, the push is reported failed and dropped, and
// the recording and the other pushes go on. (In one pipeline a sink's
// flow error travels back through the queue and the tee to the capture.)
type rtmpOut struct {
	w    *webRecorder
	url  string
	pipe *gst.Pipeline
	v, a *app.Source

	mu     sync.Mutex
	status string
	sent   int
	capsV  bool
	capsA  bool
	ended  chan struct{}
	endOne sync.Once
}

// rtmpPublishingAfter is how many buffers must reach the sink, without an
// error, before the push counts as publishing (about a second of media).
const rtmpPublishingAfter = 60

// checkRTMP refuses a push target the guard refuses: rtmp2sink connects
// itself, not through the page's proxy. The name is resolved here and the
// sink resolves it again: a rebinding name between the two is not caught
// (the daemon's webrun.CheckRTMPURL checked it too).
func checkRTMP(ctx context.Context, guard *netguard.Guard, raw string) error {
	u, err := mixproto.CheckRTMPURL(raw)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"rtmp": "1935", "rtmps": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return guard.CheckHost(ctx, "rtmp push", net.JoinHostPort(u.Hostname(), port))
}

func (w *webRecorder) buildRTMP() error {
	for i, u := range w.wc.RTMP {
		p, err := gst.NewPipelineFromString("appsrc name=v format=time is-live=false max-bytes=8388608 block=false ! queue ! h264parse ! " +
			"flvmux name=m streamable=true ! rtmp2sink name=s sync=false async=false " +
			"appsrc name=a format=time is-live=false max-bytes=2097152 block=false ! queue ! aacparse ! m.")
		if err != nil {
			return fmt.Errorf("%w: rtmp: %v", ErrPipeline, err)
		}
		o := &rtmpOut{w: w, url: u, pipe: p, status: mixproto.RTMPConnecting, ended: make(chan struct{})}
		sink, err := element(p, "s")
		if err != nil {
			return err
		}
		if err := sink.SetProperty("location", u); err != nil {
			return fmt.Errorf("%w: rtmp location: %v", ErrPipeline, err)
		}
		ve, err := element(p, "v")
		if err != nil {
			return err
		}
		ae, err := element(p, "a")
		if err != nil {
			return err
		}
		o.v, o.a = app.SrcFromElement(ve), app.SrcFromElement(ae)
		sink.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, _ *gst.PadProbeInfo) gst.PadProbeReturn {
			o.mu.Lock()
			o.sent++
			pub := o.sent == rtmpPublishingAfter && o.status == mixproto.RTMPConnecting
			if pub {
				o.status = mixproto.RTMPPublishing
			}
			o.mu.Unlock()
			if pub {
				o.report("")
			}
			return gst.PadProbeOK
		})
		for _, kind := range []string{"v", "a"} {
			se, err := element(w.pipe, fmt.Sprintf("rtmp%s%d", kind, i))
			if err != nil {
				return err
			}
			video := kind == "v"
			app.SinkFromElement(se).SetCallbacks(&app.SinkCallbacks{
				NewSampleFunc: func(s *app.Sink) gst.FlowReturn { return o.sample(s, video) },
				EOSFunc:       func(*app.Sink) { o.endStream(video) },
			})
		}
		w.rtmp = append(w.rtmp, o)
	}
	return nil
}

// startRTMP starts every push's pipeline and its bus watch.
func (w *webRecorder) startRTMP() {
	for _, o := range w.rtmp {
		go o.watch()
		if err := o.pipe.SetState(gst.StatePlaying); err != nil {
			o.fail(err.Error())
		}
		o.report("")
	}
}

// sample hands one encoded unit on; it never fails the recording.
func (o *rtmpOut) sample(s *app.Sink, video bool) gst.FlowReturn {
	smp := s.PullSample()
	if smp == nil {
		return gst.FlowOK
	}
	o.mu.Lock()
	failed := o.status == mixproto.RTMPFailed
	src, caps := o.a, &o.capsA
	if video {
		src, caps = o.v, &o.capsV
	}
	if !*caps && !failed {
		if c := smp.GetCaps(); c != nil {
			src.SetCaps(c)
			*caps = true
		}
	}
	o.mu.Unlock()
	if failed {
		return gst.FlowOK
	}
	if buf := smp.GetBuffer(); buf != nil {
		_ = src.PushBuffer(buf.Copy())
	}
	return gst.FlowOK
}

func (o *rtmpOut) endStream(video bool) {
	if video {
		o.v.EndStream()
	} else {
		o.a.EndStream()
	}
}

func (o *rtmpOut) watch() {
	bus := o.pipe.GetPipelineBus()
	for {
		msg := bus.TimedPop(gst.ClockTimeNone)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageEOS:
			o.endOne.Do(func() { close(o.ended) })
			return
		case gst.MessageError:
			o.fail(msg.ParseError().Error())
			o.endOne.Do(func() { close(o.ended) })
			return
		}
	}
}

func (o *rtmpOut) fail(msg string) {
	o.mu.Lock()
	was := o.status
	o.status = mixproto.RTMPFailed
	o.mu.Unlock()
	if was != mixproto.RTMPFailed {
		o.w.log.Warn("rtmp push failed: dropped, the recording goes on", "url", o.url, "error", msg)
		o.report(msg)
	}
}

func (o *rtmpOut) report(msg string) {
	o.mu.Lock()
	st := mixproto.WebRTMPStatus{URL: o.url, Status: o.status, Message: strings.TrimSpace(msg)}
	o.mu.Unlock()
	o.w.out.write(mixproto.TypeWebRTMPStatus, st)
	_ = o.w.out.flush()
}

// closeRTMP waits (3 s at most) for every push to drain its EOS, then
// stops it.
func (w *webRecorder) closeRTMP() {
	for _, o := range w.rtmp {
		select {
		case <-o.ended:
		case <-time.After(3 * time.Second):
		}
		stopBounded(o.pipe, w.log)
		o.pipe.GetPipelineBus().Post(gst.NewEOSMessage(o.pipe))
	}
}
