package mixer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"golang.org/x/sys/unix"

	"github.com/ars-project/ars/internal/mixproto"
)

// aheadLimit is how far an offline composite's input may run ahead of
// its output: the pipe is the back-pressure beyond it.
const aheadLimit = 3 * time.Second

// staleAfter is how long a source of an offline composite may go without
// a unit before the aggregators are told (a gap event) not to wait for it.
const staleAfter = time.Second

// Mixer runs one composite.
type Mixer struct {
	cfg  mixproto.Config
	log  *slog.Logger
	out  *output
	pipe *gst.Pipeline
	comp *gst.Element // nil in an audio-only composite
	amix *gst.Element
	bg   *gst.Element

	// offset maps the composite clock to running time: rt = pts + offset.
	offset int64

	mu       sync.Mutex
	cond     *sync.Cond
	sources  map[uint32]*source
	joined   int
	layout   mixproto.Layout
	fedUpTo  int64 // highest PTS received
	outPTS   int64 // highest PTS encoded (composite clock)
	frames   int64
	ending   bool
	endPTS   int64
	failed   error
	eos      chan struct{}
	eosOnce  sync.Once
	segStart map[string]int64  // fragment location → start running time
	linked   map[string]string // MP4 fragment location → its final name, linked at open
	tsName   map[string]string
}

// Run reads frames from in until End (or EOF, or ctx ending: a SIGTERM),
// composes, writes frames to out, and returns when every output is
// finalised. ctx's cancellation asks for a clean finish; force asks for
// an immediate exit.
func Run(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	gst.Init(nil)
	o := newOutput(out)
	r := mixproto.NewReader(in)
	var cfg mixproto.Config
	if err := readConfig(r, mixproto.TypeConfig, &cfg); err != nil {
		return o.fail(err)
	}
	m := &Mixer{cfg: cfg, log: log, out: o, sources: map[uint32]*source{}, layout: cfg.Layout,
		eos: make(chan struct{}), segStart: map[string]int64{}, linked: map[string]string{}, tsName: map[string]string{}}
	m.cond = sync.NewCond(&m.mu)
	if err := m.build(); err != nil {
		return o.fail(err)
	}
	defer m.pipe.SetState(gst.StateNull)

	busDone := make(chan struct{})
	go func() { defer close(busDone); m.watchBus() }()
	if cfg.Live {
		// GStreamer's system clock and the daemon's origin are both
		// CLOCK_MONOTONIC: with the base time at the origin plus the
		// delay, a unit's PTS is its running time, and the frame of PTS
		// p is drawn at origin + p + delay however late the pipe is.
		clk := gst.ObtainSystemClock()
		m.pipe.ForceClock(clk.Clock)
		m.pipe.SetStartTime(gst.ClockTimeNone)
		// A mixer started late (a restart after a crash) keeps its own
		// running time from 0, its sources' timestamps start there: the
		// composite clock is shifted onto it (offset, at most 0).
		base := cfg.OriginMonotonic
		if now := monotonicNow(); now-base > int64(time.Second) {
			base = now
		}
		m.offset = cfg.OriginMonotonic - base
		start := base + int64(cfg.DelayMs)*1e6
		m.pipe.SetBaseTime(gst.ClockTime(start))
		// The canvas sources (the live silent audio above all) stamp
		// their first buffer with clock - base time: before the base time
		// that is negative, wraps as an unsigned ClockTime, and moves
		// audiomixer's output ~2^64 ns ahead, so it drops every
		// participant's sound as "before the output offset" (the live
		// composite without its sound). Start playing only once the base
		// time has passed: the first DelayMs of input waits in the pipe.
		if d := time.Duration(start - monotonicNow()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if d := int64(clk.GetTime()) - monotonicNow(); d > 5e6 || d < -5e6 {
			return o.fail(fmt.Errorf("%w: the pipeline clock is %d ns off CLOCK_MONOTONIC", ErrPipeline, d))
		}
	}
	if err := m.pipe.SetState(gst.StatePlaying); err != nil {
		return o.fail(fmt.Errorf("%w: play: %v", ErrPipeline, err))
	}
	// Sources join only once the canvas has drawn its first frame:
	// compositor pads requested while the pipeline is still starting race
	// its set-up and crash GStreamer 1.22.0.
	m.mu.Lock()
	for deadline := time.Now().Add(5 * time.Second); m.frames == 0 && m.failed == nil && time.Now().Before(deadline); {
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		m.mu.Lock()
	}
	m.mu.Unlock()
	o.write(mixproto.TypeReady, nil)
	progressDone := make(chan struct{})
	go m.progress(progressDone)

	frames := make(chan error, 1)
	go func() { frames <- m.readFrames(r) }()
	var readErr error
	select {
	case readErr = <-frames:
	case <-ctx.Done():
		log.Info("asked to stop: finishing the outputs")
	case <-m.eos:
	}
	m.finish()
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
	m.mu.Lock()
	failed := m.failed
	m.mu.Unlock()
	if failed != nil {
		return o.fail(failed)
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		log.Warn("input ended badly; outputs finalised", "error", readErr)
	}
	o.write(mixproto.TypeDone, nil)
	return o.flush()
}

func (m *Mixer) build() error {
	tsTmp := filepath.Join(m.cfg.OutDir, ".mix-ts-%05d.ts")
	mp4Tmp := filepath.Join(m.cfg.OutDir, ".mix-mp4-%05d.mp4")
	removeLeftovers(m.cfg.OutDir, m.log)
	desc := describe(&m.cfg, tsTmp, mp4Tmp)
	m.log.Debug("pipeline", "description", desc)
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	m.pipe = p
	if m.cfg.Video != nil {
		if m.comp, err = element(p, "comp"); err != nil {
			return err
		}
		if m.bg, err = element(p, "bg"); err != nil {
			return err
		}
		m.comp.GetStaticPad("sink_0").SetArg("zorder", "0")
	}
	if m.amix, err = element(p, "amix"); err != nil {
		return err
	}
	if !m.cfg.Live {
		m.gate("bg")
		m.gate("abg")
	}
	// The output position is read before the encoders: x264enc shifts
	// its timestamps by 1000 hours to keep DTS positive.
	agg := m.amix
	if m.comp != nil {
		agg = m.comp
	}
	agg.GetStaticPad("src").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		if buf := info.GetBuffer(); buf != nil {
			if ts := buf.PresentationTimestamp(); ts != gst.ClockTimeNone {
				m.mu.Lock()
				if pts := int64(ts) - m.offset; pts > m.outPTS {
					m.outPTS = pts
				}
				m.frames++
				m.cond.Broadcast()
				m.mu.Unlock()
			}
		}
		return gst.PadProbeOK
	})
	return nil
}

// gate holds an offline composite's canvas and silence sources to the
// input received so far: without it they would run to infinity before
// the first participant's units arrive.
func (m *Mixer) gate(name string) {
	e, err := m.pipe.GetElementByName(name)
	if err != nil || e == nil {
		return
	}
	ended := false
	e.GetStaticPad("src").AddProbe(gst.PadProbeTypeBuffer, func(pad *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		buf := info.GetBuffer()
		if buf == nil || ended {
			return gst.PadProbeDrop
		}
		pts := int64(buf.PresentationTimestamp())
		m.mu.Lock()
		for !m.ending && pts > m.fedUpTo {
			m.cond.Wait()
		}
		past := m.ending && pts >= m.endPTS
		m.mu.Unlock()
		if past {
			// The input's end: this source ends here, so the aggregator
			// ends with the last participant's unit.
			ended = true
			pad.PushEvent(gst.NewEOSEvent())
			return gst.PadProbeDrop
		}
		return gst.PadProbeOK
	})
}

// finalName is the name a closed fragment gets. Fragments are written
// under hidden temporary names and renamed when complete, rather than
// named by splitmuxsink's format-location signals: go-gst 1.4.0 drops a
// reference of the sink at each signal call, which crashes GStreamer
// once the garbage collector runs.
func (m *Mixer) finalName(kind, tmp string, startPTS int64) string {
	if kind == mixproto.KindMP4 {
		name := m.cfg.MP4.Pattern
		if strings.Contains(name, "%d") {
			base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tmp), ".mix-mp4-"), ".mp4")
			id, _ := strconv.Atoi(base)
			name = strings.Replace(name, "%d", strconv.Itoa(m.cfg.MP4.FirstIndex+id), 1)
		}
		return filepath.Join(m.cfg.OutDir, name)
	}
	t := time.UnixMilli(m.cfg.OriginUnixMs).Add(time.Duration(max(startPTS, 0))).UTC()
	name := fmt.Sprintf("%s_%s%03d.ts", m.cfg.HLS.Prefix, t.Format("20060102150405"), t.Nanosecond()/1e6)
	return filepath.Join(m.cfg.OutDir, name)
}

// validated is a role's first frame: a config that checks itself.
type validated interface{ Validate() error }

// readConfig reads a role's first frame, which must be of type want,
// into cfg and checks it: every role of ars-mixer starts so.
func readConfig(r *mixproto.Reader, want mixproto.Type, cfg validated) error {
	f, err := r.ReadFrame()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoConfig, err)
	}
	if f.Type != want {
		return ErrNoConfig
	}
	if err := mixproto.Decode(f.Body, cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

// readFrames handles the daemon's frames until End or EOF.
func (m *Mixer) readFrames(r *mixproto.Reader) error {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		switch f.Type {
		case mixproto.TypeEnd:
			return nil
		case mixproto.TypeLayout:
			var l mixproto.Layout
			if err := mixproto.Decode(f.Body, &l); err != nil {
				return err
			}
			if err := l.Validate(m.cfg.Video); err != nil {
				m.log.Warn("layout refused", "error", err)
				continue
			}
			m.setLayout(l)
		case mixproto.TypeJoin:
			var s mixproto.Source
			if err := mixproto.Decode(f.Body, &s); err != nil {
				return err
			}
			if err := m.join(s); err != nil {
				m.log.Warn("join refused", "source", s.ID, "error", err)
			}
		case mixproto.TypeLeave:
			var l mixproto.Leave
			if err := mixproto.Decode(f.Body, &l); err != nil {
				return err
			}
			m.leave(l.ID)
		case mixproto.TypeVideo, mixproto.TypeAudio:
			u, err := mixproto.ParseMedia(f.Body)
			if err != nil {
				return err
			}
			m.media(f.Type == mixproto.TypeVideo, u)
		default:
			m.log.Warn("unexpected frame", "type", f.Type)
		}
	}
}

// monotonicNow is CLOCK_MONOTONIC in ns.
func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
