package arsmix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/session"
)

// ErrBusy is a channel that already has a live composite.
var ErrBusy = errors.New("arsmix: the channel already has a composite")

// Canvas is the composite's picture and encoding.
var defaultCanvas = mixproto.VideoConfig{Width: 640, Height: 360, FPS: 15, BitrateKbps: 500}

// Options of a live composite (the start request's "mixedLayout").
type Options struct {
	Width, Height, FPS, BitrateKbps int
	Background                      uint32
}

// Mixes runs the live composites of recordings.
type Mixes struct {
	mgr    *session.Manager
	m      *metrics.Metrics
	bin    string
	log    *slog.Logger
	mu     sync.Mutex
	active map[string]*mix
	wg     sync.WaitGroup
}

type mix struct {
	comp   *mixrun.Composite
	feed   *mixfeed.Live
	remove func()
	dir    string
	file   string
	stop   chan struct{}
}

// New returns the composites of mgr's recordings, made by the ars-mixer
// at bin.
func New(mgr *session.Manager, bin string, log *slog.Logger, opts ...Option) *Mixes {
	x := &Mixes{mgr: mgr, bin: bin, log: log.With("component", "arsmix"), active: map[string]*mix{}}
	for _, o := range opts {
		o(x)
	}
	return x
}

// Option configures Mixes.
type Option func(*Mixes)

// WithMetrics counts composites, mixer failures, restarts and dropped
// media (the ars_mixer_* instruments).
func WithMetrics(m *metrics.Metrics) Option { return func(x *Mixes) { x.m = m } }

// Start composes channel's recording in dir live into
// dir/mixed_HHMMSS.mp4 (HHMMSS: the recording's start, local time), until
// the recording ends. It returns the file name.
func (x *Mixes) Start(channel, dir string, startedAt time.Time, o Options) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.active[channel]; ok {
		return "", ErrBusy
	}
	canvas := defaultCanvas
	if o.Width > 0 {
		canvas = mixproto.VideoConfig{Width: o.Width, Height: o.Height, FPS: o.FPS, BitrateKbps: o.BitrateKbps}
	}
	wall, mono, err := mixfeed.NewOrigin()
	if err != nil {
		return "", err
	}
	file := "mixed_" + startedAt.Local().Format("150405") + ".mp4"
	// A composite started again after a restart within the same second
	// must not overwrite the first one's file.
	for i := 2; fileExists(filepath.Join(dir, file)); i++ {
		file = "mixed_" + startedAt.Local().Format("150405") + "-" + strconv.Itoa(i) + ".mp4"
	}
	cfg := mixproto.Config{Live: true, OriginMonotonic: mono, OriginUnixMs: wall.UnixMilli(), DelayMs: 500,
		Video: &canvas, Audio: mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 64},
		Layout: mixproto.Layout{Background: o.Background}, OutDir: dir, MP4: &mixproto.MP4Output{Pattern: file}}
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	log := x.log.With("channel", channel)
	var feed *mixfeed.Live
	comp, err := mixrun.New(cfg, mixrun.WithBinary(x.bin), mixrun.WithLogger(log),
		mixrun.WithOnFailure(func(err error, restarting bool) {
			log.Error("composite failed", "error", err, "restarting", restarting)
			if x.m != nil {
				x.m.MixerFailures.Inc()
				if restarting {
					x.m.MixerRestarts.Inc()
				}
			}
		}),
		mixrun.WithOnKeyframeNeeded(func(uint32) {
			if feed != nil {
				feed.RequestKeyframes()
			}
		}))
	if err != nil {
		return "", err
	}
	if err := comp.Start(); err != nil {
		return "", err
	}
	grid := mixrun.NewArranger(comp, layout.Config{Width: canvas.Width, Height: canvas.Height, Mode: layout.BestFit, Background: o.Background})
	feed = mixfeed.NewLive(grid, wall, mixfeed.WithLogger(log),
		mixfeed.WithOnKeyframeNeeded(func(p *session.Participant) { go p.RequestKeyframe() }))
	remove, err := x.mgr.AddSink(channel, feed)
	if err != nil {
		_ = comp.Close(context.Background())
		return "", fmt.Errorf("arsmix: %w", err)
	}
	m := &mix{comp: comp, feed: feed, remove: remove, dir: dir, file: file, stop: make(chan struct{})}
	x.active[channel] = m
	if x.m != nil {
		x.m.MixerComposites.Inc()
	}
	x.wg.Add(1)
	go x.follow(channel, m)
	log.Info("live composite started", "file", file)
	return file, nil
}

// follow ends the composite when its recording ends, whatever ended it
// (a stop, the idle timeout, the daemon closing).
func (x *Mixes) follow(channel string, m *mix) {
	defer x.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
		case <-t.C:
			st := x.mgr.Status(channel)
			if st.Recording != nil && st.Recording.Directory == m.dir {
				continue
			}
		}
		break
	}
	x.finish(channel, m)
}

func (x *Mixes) finish(channel string, m *mix) {
	m.remove()
	m.feed.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.comp.Close(ctx)
	if x.m != nil {
		st := m.comp.Stats()
		x.m.MixerComposites.Dec()
		x.m.MixerDroppedUnits.Add(float64(st.DroppedVideo + st.DroppedAudio))
	}
	if err != nil {
		x.log.Error("composite not finalised", "channel", channel, "error", err)
	} else {
		x.log.Info("live composite written", "channel", channel, "file", m.file, "restarts", m.comp.Restarts())
	}
	x.mu.Lock()
	if x.active[channel] == m {
		delete(x.active, channel)
	}
	x.mu.Unlock()
}

// Stop finishes channel's composite now and waits for its file.
func (x *Mixes) Stop(channel string) {
	x.mu.Lock()
	m := x.active[channel]
	x.mu.Unlock()
	if m == nil {
		return
	}
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	for {
		x.mu.Lock()
		_, still := x.active[channel]
		x.mu.Unlock()
		if !still {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close finishes every composite.
func (x *Mixes) Close() {
	x.mu.Lock()
	var all []string
	for ch := range x.active {
		all = append(all, ch)
	}
	x.mu.Unlock()
	for _, ch := range all {
		x.Stop(ch)
	}
	x.wg.Wait()
}

// Active is the file of channel's running composite, if any.
func (x *Mixes) Active(channel string) (pid int, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.active[channel]
	if m == nil {
		return 0, false
	}
	return m.comp.PID(), true
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Count is the number of live composites running (the cluster's load).
func (x *Mixes) Count() int {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.active)
}
