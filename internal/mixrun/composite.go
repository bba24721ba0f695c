package mixrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
)

// queueLen bounds the frames waiting for a live mixer's stdin: about two
// seconds of a busy composite. Beyond it media is dropped, never the
// caller blocked.
const queueLen = 2048

// stallAfter is how long a mixer may go without reporting progress
// before it is taken as hung and killed.
const stallAfter = 10 * time.Second

// Option configures a Composite.
type Option func(*Composite)

// WithBinary sets the ars-mixer to run.
func WithBinary(path string) Option { return func(c *Composite) { c.bin = path } }

// WithLogger sets the logger (the mixer's stderr goes there too).
func WithLogger(l *slog.Logger) Option { return func(c *Composite) { c.log = l } }

// WithOnFile is called for every finished output file.
func WithOnFile(fn func(mixproto.FileClosed)) Option { return func(c *Composite) { c.onFile = fn } }

// WithOnFailure is called when the mixer dies or hangs; restarting says
// whether a new one takes over.
func WithOnFailure(fn func(err error, restarting bool)) Option {
	return func(c *Composite) { c.onFailure = fn }
}

// WithOnKeyframeNeeded is called for each video source after a restart:
// the new mixer can use nothing of it before a keyframe.
func WithOnKeyframeNeeded(fn func(source uint32)) Option {
	return func(c *Composite) { c.onKeyframe = fn }
}

// WithMaxRestarts bounds the restarts of a live composite (default 5).
func WithMaxRestarts(n int) Option { return func(c *Composite) { c.maxRestarts = n } }

// Stats are a composite's counters.
type Stats struct {
	Restarts      int
	Failures      int
	DroppedVideo  int64
	DroppedAudio  int64
	FilesReported int
}

type frame struct {
	t    mixproto.Type
	m    mixproto.Media
	body any
}

// proc is one mixer process.
type proc struct {
	cmd    *exec.Cmd
	q      chan frame
	exited chan struct{}
	err    error // after exited
	done   bool  // the mixer said Done
	merr   string
}

// Composite supervises one composite's mixer process.
type Composite struct {
	cfg         mixproto.Config
	bin         string
	log         *slog.Logger
	onFile      func(mixproto.FileClosed)
	onFailure   func(error, bool)
	onKeyframe  func(uint32)
	maxRestarts int

	mu       sync.Mutex
	p        *proc
	sources  map[uint32]mixproto.Source
	order    []uint32
	layout   mixproto.Layout
	needKey  map[uint32]bool
	closing  bool
	stats    Stats
	mp4Next  int
	finished chan struct{}
	final    error

	// delayQ holds the layout changes and leaves of a live composite for
	// Config.DelayMs: its output runs that far behind its inputs, so a
	// change applied on arrival would show before the media it belongs
	// with (a window re-flowing before the leaver's last frames, an
	// updateLayout showing before the call). nil: applied at once.
	delayQ    chan delayed
	delay     time.Duration
	flush     chan struct{}
	delayDone chan struct{}
}

// delayed is a control frame waiting for its time.
type delayed struct {
	due time.Time
	f   frame
}

// delayQueueLen bounds the control frames waiting; past it they apply at
// once (early rather than lost).
const delayQueueLen = 1024

// New prepares a composite; Start runs it.
func New(cfg mixproto.Config, opts ...Option) (*Composite, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Composite{cfg: cfg, log: slog.Default(), maxRestarts: 5, layout: cfg.Layout,
		sources: map[uint32]mixproto.Source{}, needKey: map[uint32]bool{}, finished: make(chan struct{})}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.With("component", "mixrun")
	if cfg.MP4 != nil {
		c.mp4Next = cfg.MP4.FirstIndex
	}
	if c.bin == "" {
		bin, err := FindBinary("")
		if err != nil {
			return nil, err
		}
		c.bin = bin
	}
	return c, nil
}

// Start runs the first mixer.
func (c *Composite) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Live && c.cfg.DelayMs > 0 && c.delayQ == nil {
		c.delay = time.Duration(c.cfg.DelayMs) * time.Millisecond
		c.delayQ = make(chan delayed, delayQueueLen)
		c.flush = make(chan struct{})
		c.delayDone = make(chan struct{})
		go c.delayLoop(c.delayQ)
	}
	return c.spawnLocked()
}

// later queues a control frame that belongs with the media arriving now:
// the live output reaches that media DelayMs from now.
func (c *Composite) later(f frame) {
	c.mu.Lock()
	if c.delayQ != nil {
		select {
		case c.delayQ <- delayed{due: time.Now().Add(c.delay), f: f}:
			c.mu.Unlock()
			return
		default:
		}
	}
	c.mu.Unlock()
	c.apply(f)
}

func (c *Composite) delayLoop(q <-chan delayed) {
	defer close(c.delayDone)
	for d := range q {
		if wait := time.Until(d.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.flush:
				t.Stop()
			}
		}
		c.apply(d.f)
	}
}

// apply sends a control frame now; a layout becomes the one a restarted
// mixer starts with.
func (c *Composite) apply(f frame) {
	if l, ok := f.body.(mixproto.Layout); ok {
		c.mu.Lock()
		c.layout = l
		c.mu.Unlock()
	}
	c.send(f)
}

// flushDelayed applies every waiting control frame now (the end).
func (c *Composite) flushDelayed() {
	c.mu.Lock()
	q := c.delayQ
	c.delayQ = nil
	c.mu.Unlock()
	if q == nil {
		return
	}
	close(q)
	close(c.flush)
	<-c.delayDone
}

func (c *Composite) spawnLocked() error {
	cfg := c.cfg
	cfg.Layout = c.layout
	if cfg.MP4 != nil {
		m := *cfg.MP4
		m.FirstIndex = c.mp4Next
		if c.stats.Restarts > 0 && !strings.Contains(m.Pattern, "%d") {
			// A fixed name is the first mixer's; a successor must not
			// overwrite it.
			m.Pattern = fmt.Sprintf("%s_%d.mp4", strings.TrimSuffix(m.Pattern, ".mp4"), c.stats.Restarts+1)
		}
		cfg.MP4 = &m
	}
	cmd, stdin, stdout, err := StartChild(c.bin, nil, c.log, "mixer")
	if err != nil {
		return fmt.Errorf("mixrun: %w", err)
	}
	n := queueLen
	if !cfg.Live {
		n = 64
	}
	p := &proc{cmd: cmd, q: make(chan frame, n), exited: make(chan struct{})}
	c.p = p
	progress := make(chan struct{}, 1)
	go c.write(p, stdin)
	go c.read(p, stdout, progress)
	go c.wait(p, progress)
	p.q <- frame{t: mixproto.TypeConfig, body: cfg}
	for _, id := range c.order {
		p.q <- frame{t: mixproto.TypeJoin, body: c.sources[id]}
	}
	return nil
}

func (c *Composite) write(p *proc, stdin io.WriteCloser) {
	w := mixproto.NewWriter(stdin)
	var err error
	for f := range p.q {
		if err != nil {
			continue
		}
		switch f.t {
		case mixproto.TypeVideo, mixproto.TypeAudio:
			err = w.WriteMedia(f.t, f.m)
		default:
			err = w.WriteJSON(f.t, f.body)
		}
		if err == nil && len(p.q) == 0 {
			err = w.Flush()
		}
	}
	if err == nil {
		_ = w.Flush()
	}
	_ = stdin.Close()
}

func (c *Composite) read(p *proc, stdout io.Reader, progress chan<- struct{}) {
	r := mixproto.NewReader(stdout)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case mixproto.TypeProgress, mixproto.TypeReady:
			select {
			case progress <- struct{}{}:
			default:
			}
		case mixproto.TypeFileClosed:
			var fc mixproto.FileClosed
			if mixproto.Decode(f.Body, &fc) != nil {
				continue
			}
			c.mu.Lock()
			c.stats.FilesReported++
			if fc.Kind == mixproto.KindMP4 {
				c.mp4Next++
			}
			c.mu.Unlock()
			if c.onFile != nil {
				c.onFile(fc)
			}
		case mixproto.TypeError:
			var e mixproto.Error
			_ = mixproto.Decode(f.Body, &e)
			c.mu.Lock()
			p.merr = e.Message
			c.mu.Unlock()
		case mixproto.TypeDone:
			c.mu.Lock()
			p.done = true
			c.mu.Unlock()
		}
	}
}

// wait follows one process to its end, killing it when it hangs, and
// restarts a live composite that died before its end.
func (c *Composite) wait(p *proc, progress <-chan struct{}) {
	exit := make(chan error, 1)
	go func() { exit <- p.cmd.Wait() }()
	timer := time.NewTimer(stallAfter)
	defer timer.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-exit:
			waiting = false
		case <-progress:
			timer.Reset(stallAfter)
		case <-timer.C:
			c.log.Error("mixer hung: killing it", "pid", p.cmd.Process.Pid)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			timer.Reset(stallAfter)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.err = err
	close(p.exited)
	if p.done && err == nil {
		c.finishLocked(nil)
		return
	}
	failure := fmt.Errorf("%w: %v %s", ErrMixerFailed, err, p.merr)
	c.stats.Failures++
	restart := c.cfg.Live && !c.closing && c.stats.Restarts < c.maxRestarts
	c.log.Error("mixer exited", "error", failure, "restarting", restart)
	if c.onFailure != nil {
		go c.onFailure(failure, restart)
	}
	if !restart {
		c.finishLocked(failure)
		return
	}
	c.stats.Restarts++
	time.Sleep(200 * time.Millisecond)
	for _, id := range c.order {
		if c.sources[id].Video {
			c.needKey[id] = true
		}
	}
	if err := c.spawnLocked(); err != nil {
		c.finishLocked(err)
		return
	}
	c.p.q <- frame{t: mixproto.TypeLayout, body: c.layout}
	if c.onKeyframe != nil {
		for id := range c.needKey {
			go c.onKeyframe(id)
		}
	}
}

func (c *Composite) finishLocked(err error) {
	select {
	case <-c.finished:
	default:
		c.final = err
		close(c.finished)
	}
}

// send queues a control frame (always kept: it is small and rare).
func (c *Composite) send(f frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.p == nil {
		return
	}
	select {
	case c.p.q <- f:
	default:
		if !c.cfg.Live {
			c.mu.Unlock()
			c.p.q <- f
			c.mu.Lock()
			return
		}
		c.log.Warn("mixer queue full: control frame dropped", "type", f.t)
	}
}

// Join announces a source.
func (c *Composite) Join(s mixproto.Source) {
	c.mu.Lock()
	if _, ok := c.sources[s.ID]; !ok {
		c.order = append(c.order, s.ID)
	}
	c.sources[s.ID] = s
	c.mu.Unlock()
	c.send(frame{t: mixproto.TypeJoin, body: s})
}

// Leave ends a source.
func (c *Composite) Leave(id uint32) {
	c.mu.Lock()
	delete(c.sources, id)
	delete(c.needKey, id)
	for i, x := range c.order {
		if x == id {
			c.order = append(c.order[:i:i], c.order[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.later(frame{t: mixproto.TypeLeave, body: mixproto.Leave{ID: id}})
}

// SetLayout replaces the layout. A live composite applies it Config.DelayMs
// later, when its output reaches the media arriving now.
func (c *Composite) SetLayout(l mixproto.Layout) {
	c.later(frame{t: mixproto.TypeLayout, body: l})
}

// Video hands on one video unit (copied). A live composite never blocks:
// when the mixer falls behind the unit is dropped, and the source's video
// waits for its next keyframe.
func (c *Composite) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	c.media(frame{t: mixproto.TypeVideo, m: mixproto.Media{Source: id, PTS: pts, Flags: v.Flags(), Data: bytes.Clone(au)}})
}

// Audio hands on one Opus packet (copied).
func (c *Composite) Audio(id uint32, pts int64, pkt []byte) {
	c.media(frame{t: mixproto.TypeAudio, m: mixproto.Media{Source: id, PTS: pts, Data: bytes.Clone(pkt)}})
}

func (c *Composite) media(f frame) {
	video := f.t == mixproto.TypeVideo
	c.mu.Lock()
	if c.closing || c.p == nil {
		c.mu.Unlock()
		return
	}
	if video && c.needKey[f.m.Source] {
		if f.m.Flags&mixproto.FlagKey == 0 {
			c.stats.DroppedVideo++
			c.mu.Unlock()
			return
		}
		delete(c.needKey, f.m.Source)
	}
	q := c.p.q
	if !c.cfg.Live {
		c.mu.Unlock()
		q <- f // the back-pressure of an offline composite
		return
	}
	select {
	case q <- f:
	default:
		if video {
			c.stats.DroppedVideo++
			c.needKey[f.m.Source] = true
		} else {
			c.stats.DroppedAudio++
		}
	}
	c.mu.Unlock()
}

// Close ends the composite: the mixer finishes and finalises its files.
// When ctx ends first, the mixer is asked to stop (SIGTERM) and then
// killed.
func (c *Composite) Close(ctx context.Context) error {
	c.flushDelayed()
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.finished
		return c.final
	}
	c.closing = true
	p := c.p
	c.mu.Unlock()
	if p == nil {
		return ErrClosed
	}
	select {
	case p.q <- frame{t: mixproto.TypeEnd}:
	case <-p.exited:
	case <-ctx.Done():
	}
	c.mu.Lock()
	cur := c.p
	c.mu.Unlock()
	close(cur.q)
	select {
	case <-c.finished:
	case <-ctx.Done():
		_ = syscall.Kill(-cur.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-c.finished:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cur.cmd.Process.Pid, syscall.SIGKILL)
			<-c.finished
		}
	}
	return c.final
}

// PID is the current mixer process's id (0 before Start).
func (c *Composite) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p == nil || c.p.cmd.Process == nil {
		return 0
	}
	return c.p.cmd.Process.Pid
}

// Restarts is how many times a new mixer took over.
func (c *Composite) Restarts() int { return c.Stats().Restarts }

// Stats returns the composite's counters.
func (c *Composite) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Err is the composite's end: nil after a clean finish.
func (c *Composite) Err() error {
	select {
	case <-c.finished:
		return c.final
	default:
		return nil
	}
}
