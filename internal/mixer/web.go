package mixer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/netguard"
)

// The web page recorder role (ars-mixer --web-recorder) records one web
// page: Chromium headed on a private Xvfb, its sound in a private
// PulseAudio null sink (webenv.go), every connection of the page through
// a netguard proxy (webproxy.go); ximagesrc and pulsesrc capture them and
// the compositor's encoders and outputs (describeSinks, elementMessage,
// finish) write HLS segments and MP4 files.
//
// Readiness: the page counts as ready at the first captured picture that
// is not one uniform colour (a sampled grid of the luma plane differs by
// more than a few levels). A browser still waiting for its server shows a
// uniform white window; a page that is one flat colour for ever never
// becomes ready (documented in docs/pipeline.md). Before it is ready, and
// while it is held, the valves drop both media: the outputs get a gap,
// the page keeps running (it is not paused).

// webReadyStride is how many pixels apart the readiness probe samples.
const webReadyStride = 16

type webRecorder struct {
	*Mixer
	wc     mixproto.WebConfig
	vvalve *gst.Element
	avalve *gst.Element
	rtmp   []*rtmpOut

	wmu     sync.Mutex
	ready   bool
	held    bool
	readyCh chan struct{}
}

// RunWebRecorder reads a WebConfig and then TypeWebHold frames until
// TypeEnd (or EOF, or ctx ending: a SIGTERM), records the page, and
// returns when every output is finalised and the page's processes are
// gone.
func RunWebRecorder(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	gst.Init(nil)
	o := newOutput(out)
	r := mixproto.NewReader(in)
	var wc mixproto.WebConfig
	if err := readConfig(r, mixproto.TypeWebConfig, &wc); err != nil {
		return o.fail(err)
	}
	allow, err := netguard.ParseAllowList(wc.AllowList)
	if err != nil {
		return o.fail(err)
	}
	guard := netguard.New(netguard.WithAllowList(allow), netguard.WithSelf(wc.SelfIPs, wc.SelfPorts), netguard.WithLogger(log))
	for _, u := range wc.RTMP {
		if err := checkRTMP(ctx, guard, u); err != nil {
			return o.fail(fmt.Errorf("rtmp output refused: %w", err))
		}
	}
	proxy, err := startWebProxy(guard, log.With("part", "proxy"))
	if err != nil {
		return o.fail(fmt.Errorf("%w: proxy: %v", ErrWebEnv, err))
	}
	defer proxy.close()
	env, err := newWebEnv(log)
	if err != nil {
		return o.fail(err)
	}
	defer env.close()
	if err := env.startX(wc.Width, wc.Height); err != nil {
		return o.fail(err)
	}
	if err := env.startPulse(); err != nil {
		return o.fail(err)
	}
	if err := env.startChromium(&wc, proxy.addr()); err != nil {
		return o.fail(err)
	}
	audio := wc.Audio()
	cfg := mixproto.Config{Live: true, Video: &mixproto.VideoConfig{Width: wc.Width, Height: wc.Height, FPS: wc.FPS, BitrateKbps: wc.BitrateKbps},
		Audio: audio, OutDir: wc.OutDir, HLS: wc.HLS, MP4: wc.MP4}
	m := &Mixer{cfg: cfg, log: log, out: o, sources: map[uint32]*source{},
		eos: make(chan struct{}), segStart: map[string]int64{}, linked: map[string]string{}, tsName: map[string]string{}}
	m.cond = sync.NewCond(&m.mu)
	w := &webRecorder{Mixer: m, wc: wc, held: wc.Hold, readyCh: make(chan struct{})}
	if err := w.build(env); err != nil {
		return o.fail(err)
	}
	defer stopBounded(m.pipe, log)
	busDone := make(chan struct{})
	go func() { defer close(busDone); m.watchBus() }()
	m.cfg.OriginMonotonic = monotonicNow()
	m.cfg.OriginUnixMs = time.Now().UnixMilli()
	if err := m.pipe.SetState(gst.StatePlaying); err != nil {
		return o.fail(fmt.Errorf("%w: play: %v", ErrPipeline, err))
	}
	memCtx, memCancel := context.WithCancel(ctx)
	defer memCancel()
	go env.watchMemory(memCtx, wc.MemoryLimit(), m.setFailed)

	timeout := time.NewTimer(time.Duration(wc.ReadyTimeoutSec) * time.Second)
	defer timeout.Stop()
	select {
	case <-w.readyCh:
	case <-timeout.C:
		return o.fail(fmt.Errorf("%w within %d s (%s)", ErrWebNotReady, wc.ReadyTimeoutSec, wc.URL))
	case <-m.eos:
		if err := m.failure(); err != nil {
			return o.fail(err)
		}
		return o.fail(fmt.Errorf("%w: the capture ended before the page was ready", ErrPipeline))
	case <-ctx.Done():
		return o.fail(fmt.Errorf("%w: stopped before the page was ready", ErrWebNotReady))
	}
	o.write(mixproto.TypeReady, nil)
	_ = o.flush()
	w.startRTMP()
	progressDone := make(chan struct{})
	go m.progress(progressDone)

	frames := make(chan error, 1)
	go func() { frames <- w.readFrames(r) }()
	var maxDur <-chan time.Time
	if wc.MaxDurationSec > 0 {
		t := time.NewTimer(time.Duration(wc.MaxDurationSec) * time.Second)
		defer t.Stop()
		maxDur = t.C
	}
	var readErr error
	select {
	case readErr = <-frames:
	case <-ctx.Done():
		log.Info("asked to stop: finishing the outputs")
	case <-maxDur:
		log.Info("maximum duration reached: finishing the outputs")
	case <-m.eos:
		// A failure (the browser gone, the memory limit, the pipeline):
		// the daemon hears why at once; the MP4 written so far is whole
		// up to its last fragment (crashsafe.go) and the segments closed
		// so far were reported.
		if err := m.failure(); err != nil {
			close(progressDone)
			return o.fail(err)
		}
	}
	memCancel()
	m.finish()
	defer w.closeRTMP()
	select {
	case <-m.eos:
	case <-time.After(20 * time.Second):
		close(progressDone)
		return o.fail(ErrFinalise)
	}
	close(progressDone)
	m.pipe.SetState(gst.StateNull)
	m.pipe.GetPipelineBus().Post(gst.NewEOSMessage(m.pipe))
	<-busDone
	if err := m.failure(); err != nil {
		return o.fail(err)
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		log.Warn("input ended badly; outputs finalised", "error", readErr)
	}
	o.write(mixproto.TypeDone, nil)
	return o.flush()
}

// setFailed ends the recording with err (the first failure wins).
func (m *Mixer) setFailed(err error) {
	m.mu.Lock()
	if m.failed == nil {
		m.failed = err
	}
	m.cond.Broadcast()
	m.mu.Unlock()
	m.eosOnce.Do(func() { close(m.eos) })
}

func (m *Mixer) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

func (w *webRecorder) build(env *webEnv) error {
	c := &w.cfg
	v := c.Video
	tsTmp := filepath.Join(c.OutDir, ".mix-ts-%05d.ts")
	mp4Tmp := filepath.Join(c.OutDir, ".mix-mp4-%05d.mp4")
	removeLeftovers(c.OutDir, w.log)
	var b strings.Builder
	// The valves start closed: nothing is recorded before the page is
	// ready. videorate makes the rate constant (ximagesrc captures at
	// the negotiated rate but may miss a tick under load).
	fmt.Fprintf(&b, "ximagesrc name=vsrc display-name=%s use-damage=false show-pointer=false ! "+
		"video/x-raw,framerate=%d/1 ! videoconvert ! videoscale ! videorate ! "+
		"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1 ! "+
		"identity name=vprobe ! valve name=vvalve drop=true ! queue max-size-time=2000000000 max-size-buffers=0 max-size-bytes=0 leaky=downstream ! "+
		"x264enc name=venc tune=zerolatency speed-preset=veryfast bitrate=%d key-int-max=%d threads=2 ! "+
		"video/x-h264,profile=high ! tee name=vt ",
		env.display, v.FPS, v.Width, v.Height, v.FPS, v.BitrateKbps, 2*v.FPS)
	fmt.Fprintf(&b, "pulsesrc name=asrc server=unix:%s device=%s.monitor buffer-time=100000 latency-time=20000 ! "+
		"audioconvert ! audioresample ! %s ! valve name=avalve drop=true ! queue max-size-time=2000000000 max-size-buffers=0 max-size-bytes=0 leaky=downstream ! "+
		"avenc_aac name=aenc bitrate=%d ! aacparse ! tee name=at ",
		env.pulse, env.sink, rawAudioCaps(c.Audio.Channels), c.Audio.BitrateKbps*1000)
	describeSinks(&b, c, tsTmp, mp4Tmp)
	for i := range w.wc.RTMP {
		// Each push is fed from its own appsinks (never blocking: leaky
		// queues, dropping sinks) into a pipeline of its own (webrtmp.go),
		// so that a dead target's flow error never reaches the capture.
		fmt.Fprintf(&b, "vt. ! queue leaky=downstream max-size-time=2000000000 max-size-buffers=0 max-size-bytes=0 ! "+
			"appsink name=rtmpv%d sync=false async=false max-buffers=120 drop=true "+
			"at. ! queue leaky=downstream max-size-time=2000000000 max-size-buffers=0 max-size-bytes=0 ! "+
			"appsink name=rtmpa%d sync=false async=false max-buffers=200 drop=true ", i, i)
	}
	desc := b.String()
	w.log.Debug("pipeline", "description", desc)
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	w.pipe = p
	if w.vvalve, err = element(p, "vvalve"); err != nil {
		return err
	}
	if w.avalve, err = element(p, "avalve"); err != nil {
		return err
	}
	if err := w.buildRTMP(); err != nil {
		return err
	}
	probe, err := element(p, "vprobe")
	if err != nil {
		return err
	}
	var n int
	probe.GetStaticPad("src").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		buf := info.GetBuffer()
		if buf == nil {
			return gst.PadProbeOK
		}
		w.wmu.Lock()
		ready := w.ready
		w.wmu.Unlock()
		if !ready {
			if n++; n%3 == 0 && drawn(buf, v.Width, v.Height) {
				w.setReady()
			}
			return gst.PadProbeOK
		}
		if ts := buf.PresentationTimestamp(); ts != gst.ClockTimeNone {
			w.mu.Lock()
			if pts := int64(ts); pts > w.outPTS {
				w.outPTS = pts
			}
			w.frames++
			w.mu.Unlock()
		}
		return gst.PadProbeOK
	})
	return nil
}

// drawn reports whether an I420 picture is more than one flat colour.
func drawn(buf *gst.Buffer, width, height int) bool {
	mi := buf.Map(gst.MapRead)
	if mi == nil {
		return false
	}
	y := mi.Bytes()
	buf.Unmap()
	if len(y) < width*height {
		return false
	}
	lo, hi := byte(255), byte(0)
	for r := 0; r < height; r += webReadyStride {
		row := y[r*width : r*width+width]
		for x := 0; x < width; x += webReadyStride {
			lo, hi = min(lo, row[x]), max(hi, row[x])
		}
	}
	return hi-lo > 8
}

func (w *webRecorder) setReady() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.ready {
		return
	}
	w.ready = true
	close(w.readyCh)
	w.openValvesLocked()
}

// openValvesLocked lets media through when the page is ready and not held.
func (w *webRecorder) openValvesLocked() {
	drop := !w.ready || w.held
	w.vvalve.SetProperty("drop", drop)
	w.avalve.SetProperty("drop", drop)
}

// hold holds (a gap in the outputs; the page runs on) or resumes.
func (w *webRecorder) hold(h bool) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.held == h {
		return
	}
	w.held = h
	w.log.Info("web recording hold", "hold", h)
	w.openValvesLocked()
}

// readFrames handles the daemon's frames until End or EOF.
func (w *webRecorder) readFrames(r *mixproto.Reader) error {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		switch f.Type {
		case mixproto.TypeEnd:
			return nil
		case mixproto.TypeWebHold:
			var h mixproto.WebHold
			if err := mixproto.Decode(f.Body, &h); err != nil {
				return err
			}
			w.hold(h.Hold)
		default:
			w.log.Warn("unexpected frame", "type", f.Type)
		}
	}
}

// stopBounded sets the pipeline to NULL, giving up after 5 s: a capture
// source whose X or sound server went away can block its state change,
// and the process is about to exit anyway (the browser, the X and the
// sound server are stopped after it).
func stopBounded(p *gst.Pipeline, log *slog.Logger) {
	done := make(chan struct{})
	go func() { p.SetState(gst.StateNull); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		log.Warn("pipeline did not stop within 5 s")
	}
}
