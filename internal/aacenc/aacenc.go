package aacenc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
)

// Defaults of the options.
const (
	DefaultMaxStreams  = 64
	DefaultMaxPacket   = 1500
	DefaultQueueLen    = 4096 // about 1.6 s of 50 streams of 20 ms packets
	DefaultMaxRestarts = 5
)

// stallAfter is how long a child may stay silent (it beats every
// 500 ms) before it is taken as hung and killed.
const stallAfter = 10 * time.Second

// controlWait bounds how long Open and Close wait for room in the queue.
const controlWait = 2 * time.Second

// restartPause keeps a child that dies at once from spinning.
const restartPause = 200 * time.Millisecond

// Params are a stream's input and output.
type Params struct {
	// InputChannels is the Opus stream's channel count as negotiated:
	// 2 for WebRTC's opus/48000/2 whatever the sender encodes, 1 only for
	// a mono-only payload type. 0: 2.
	InputChannels int
	// Rate is the AAC sample rate (0: 48000).
	Rate int
	// Channels is the AAC channel count, 1 or 2 (0: InputChannels).
	Channels int
	// BitrateKbps is the AAC bitrate (0: 48 a channel).
	BitrateKbps int
	// Fast picks libavcodec's fast AAC coder over its default two-loop
	// search: about a third less CPU a stream, a little worse sound
	// (bench/RESULTS.md).
	Fast bool
}

func (p Params) open(id uint32) mixproto.AACOpen {
	if p.InputChannels == 0 {
		p.InputChannels = 2
	}
	if p.Rate == 0 {
		p.Rate = 48000
	}
	if p.Channels == 0 {
		p.Channels = p.InputChannels
	}
	if p.BitrateKbps == 0 {
		p.BitrateKbps = 48 * p.Channels
	}
	o := mixproto.AACOpen{ID: id, InputChannels: p.InputChannels, Rate: p.Rate, Channels: p.Channels, BitrateKbps: p.BitrateKbps}
	if p.Fast {
		o.Coder = mixproto.CoderFast
	}
	return o
}

// Kind is what an AAC result is.
type Kind uint8

// Result kinds, in the order a stream delivers them: one Config before
// its first Unit (again after a restart), Units, then Closed; Error
// instead when the stream failed.
const (
	KindConfig Kind = iota + 1
	KindUnit
	KindClosed
	KindError
)

// AAC is one result of a stream, delivered to the WithOnAAC callback.
type AAC struct {
	Kind Kind

	// KindUnit: one raw AAC-LC access unit (no ADTS header), a fresh
	// copy the callee keeps. PTS is on the stream's clock (that of
	// Write's pts), the encoder's priming already taken off: the sound of
	// input time t plays at PTS t. The first unit of a stream (and of a
	// stream after a restart) is one frame (1024 samples) before its
	// first packet's PTS. A hole in the input is concealment or silence
	// of the hole's length: PTS run on without a jump.
	PTS      time.Duration
	Duration time.Duration
	Data     []byte

	// KindConfig: the AudioSpecificConfig of the units that follow.
	Rate, Channels int
	ASC            []byte
	// Restart: this config follows a restart of the transcoder; the next
	// unit's PTS jumps over what was lost.
	Restart bool

	// KindError: why the stream failed (it is gone: Write drops). On
	// KindClosed: nil when every unit was flushed, else why not.
	Err error
}

// Stats are a transcoder's counters.
type Stats struct {
	Restarts int
	Failures int
	Dropped  int64 // packets Write refused
	Units    int64 // AAC units delivered
}

// Option configures a Transcoder.
type Option func(*Transcoder)

// WithBinary sets the ars-mixer to run (default: mixrun.FindBinary).
func WithBinary(path string) Option { return func(t *Transcoder) { t.bin = path } }

// WithLogger sets the logger (the child's stderr goes there too).
func WithLogger(l *slog.Logger) Option { return func(t *Transcoder) { t.log = l } }

// WithOnAAC sets the callback that receives every stream's results.
//
// It is called from the transcoder's own goroutines (the reader of the
// current child's stdout; after a child died, the supervising goroutine),
// never two calls at once, in the order the child produced them. It must
// return quickly (it holds up the child's output: hand the result to your
// own goroutine's inbox) and must not call Stream.Close or
// Transcoder.Close, which wait for it. Open and Write may be called.
func WithOnAAC(fn func(id uint32, au AAC)) Option { return func(t *Transcoder) { t.onAAC = fn } }

// WithMaxStreams bounds the streams open at once in the process.
func WithMaxStreams(n int) Option { return func(t *Transcoder) { t.maxStreams = n } }

// WithMaxPacket bounds an Opus packet's size; Write refuses larger ones.
func WithMaxPacket(n int) Option { return func(t *Transcoder) { t.maxPacket = n } }

// WithQueueLen bounds the packets waiting for the child, all streams
// together.
func WithQueueLen(n int) Option { return func(t *Transcoder) { t.queueLen = n } }

// WithMaxRestarts bounds the restarts of a failed child.
func WithMaxRestarts(n int) Option { return func(t *Transcoder) { t.maxRestarts = n } }

// WithMetrics counts drops and restarts on the daemon's instruments
// (metrics.Metrics.AAC); default: unregistered counters.
func WithMetrics(m metrics.AAC) Option { return func(t *Transcoder) { t.m = m } }

// item is one frame waiting for the child.
type item struct {
	t    mixproto.Type
	id   uint32
	pts  int64
	buf  *[]byte
	open mixproto.AACOpen
}

// proc is one child process.
type proc struct {
	cmd      *exec.Cmd
	dead     chan struct{} // the process exited: its writer stops
	wrote    chan struct{} // its writer returned
	read     chan struct{} // its reader returned
	progress chan struct{}
	done     bool // the child said Done
	merr     string
}

// Transcoder supervises one transcoder process and its streams.
type Transcoder struct {
	bin         string
	log         *slog.Logger
	onAAC       func(uint32, AAC)
	maxStreams  int
	maxPacket   int
	queueLen    int
	maxRestarts int
	m           metrics.AAC
	stall       time.Duration // stallAfter; tests shorten it

	q    chan item
	pool sync.Pool

	mu       sync.Mutex
	p        *proc
	streams  map[uint32]*Stream
	closing  bool
	started  bool
	stats    Stats
	finished chan struct{}
	final    error
	dropped  atomic.Int64
}

// New prepares a transcoder; Start runs its child.
func New(opts ...Option) (*Transcoder, error) {
	t := &Transcoder{log: slog.Default(), maxStreams: DefaultMaxStreams, maxPacket: DefaultMaxPacket,
		queueLen: DefaultQueueLen, maxRestarts: DefaultMaxRestarts, stall: stallAfter, streams: map[uint32]*Stream{},
		finished: make(chan struct{})}
	for _, o := range opts {
		o(t)
	}
	t.log = t.log.With("component", "aacenc")
	if t.m.Dropped == nil {
		t.m = metrics.NewAAC(nil)
	}
	if t.maxPacket < 1 || t.maxPacket > mixproto.MaxOpusPacket {
		return nil, fmt.Errorf("aacenc: max packet %d (1..%d)", t.maxPacket, mixproto.MaxOpusPacket)
	}
	if t.maxStreams < 1 || t.maxStreams > mixproto.MaxAACStreams {
		return nil, fmt.Errorf("aacenc: max streams %d (1..%d)", t.maxStreams, mixproto.MaxAACStreams)
	}
	if t.queueLen < 1 {
		return nil, fmt.Errorf("aacenc: queue length %d", t.queueLen)
	}
	if t.bin == "" {
		bin, err := mixrun.FindBinary("")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoBinary, err)
		}
		t.bin = bin
	}
	t.q = make(chan item, t.queueLen)
	n := t.maxPacket
	t.pool.New = func() any { b := make([]byte, 0, n); return &b }
	return t, nil
}

// Start runs the child.
func (t *Transcoder) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		return nil
	}
	t.started = true
	return t.spawnLocked(nil)
}

// spawnLocked starts a child; reopen are the streams it opens first.
func (t *Transcoder) spawnLocked(reopen []mixproto.AACOpen) error {
	cmd, stdin, stdout, err := mixrun.StartChild(t.bin, []string{"--audio-transcoder"}, t.log, "transcoder")
	if err != nil {
		return fmt.Errorf("aacenc: %w", err)
	}
	p := &proc{cmd: cmd, dead: make(chan struct{}), wrote: make(chan struct{}), read: make(chan struct{}),
		progress: make(chan struct{}, 1)}
	t.p = p
	go t.write(p, stdin, reopen)
	go t.read(p, stdout)
	go t.wait(p)
	return nil
}

// write hands the queue to the child's stdin until the child dies or the
// End item. The streams of reopen are opened first; what the queue holds
// for a stream this child never opened (closed meanwhile) is skipped.
func (t *Transcoder) write(p *proc, stdin io.WriteCloser, reopen []mixproto.AACOpen) {
	defer close(p.wrote)
	defer stdin.Close()
	w := mixproto.NewWriter(stdin)
	opened := make(map[uint32]bool, len(reopen))
	for _, o := range reopen {
		if w.WriteJSON(mixproto.TypeAACOpen, o) != nil {
			return
		}
		opened[o.ID] = true
	}
	if w.Flush() != nil {
		return
	}
	for {
		var it item
		select {
		case it = <-t.q:
		case <-p.dead:
			return
		}
		var err error
		switch it.t {
		case mixproto.TypeAACOpus:
			if opened[it.id] {
				err = w.WriteMedia(mixproto.TypeAACOpus, mixproto.Media{Source: it.id, PTS: it.pts, Data: *it.buf})
			}
			*it.buf = (*it.buf)[:0]
			t.pool.Put(it.buf)
		case mixproto.TypeAACSilence:
			if opened[it.id] {
				err = w.WriteMedia(mixproto.TypeAACSilence, mixproto.Media{Source: it.id, PTS: it.pts})
			}
		case mixproto.TypeAACOpen:
			if !opened[it.id] {
				opened[it.id] = true
				err = w.WriteJSON(mixproto.TypeAACOpen, it.open)
			}
		case mixproto.TypeAACClose:
			if opened[it.id] {
				delete(opened, it.id)
				err = w.WriteJSON(mixproto.TypeAACClose, mixproto.AACClose{ID: it.id})
			}
		case mixproto.TypeEnd:
			if w.WriteJSON(mixproto.TypeEnd, nil) == nil {
				_ = w.Flush()
			}
			return
		}
		if err == nil && len(t.q) == 0 {
			err = w.Flush()
		}
		if err != nil {
			// The child is gone; what is still queued waits for the
			// next one.
			return
		}
	}
}

// read delivers the child's results until its stdout ends.
func (t *Transcoder) read(p *proc, stdout io.Reader) {
	defer close(p.read)
	r := mixproto.NewReader(stdout)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		select {
		case p.progress <- struct{}{}:
		default:
		}
		switch f.Type {
		case mixproto.TypeAACUnit:
			u, err := mixproto.ParseAACUnit(f.Body)
			if err != nil {
				t.log.Warn("unit refused", "error", err)
				continue
			}
			if s := t.stream(u.ID); s != nil {
				t.mu.Lock()
				t.stats.Units++
				t.mu.Unlock()
				t.deliver(u.ID, AAC{Kind: KindUnit, PTS: time.Duration(u.PTS), Duration: time.Duration(u.Duration),
					Data: append([]byte(nil), u.Data...)})
			}
		case mixproto.TypeAACConfig:
			var c mixproto.AACConfig
			if mixproto.Decode(f.Body, &c) != nil || c.Validate() != nil {
				t.log.Warn("config refused", "body", string(f.Body))
				continue
			}
			if s := t.stream(c.ID); s != nil {
				restart := s.restarted.Swap(false)
				t.deliver(c.ID, AAC{Kind: KindConfig, Rate: c.Rate, Channels: c.Channels, ASC: c.ASC, Restart: restart})
			}
		case mixproto.TypeAACClosed:
			var c mixproto.AACClosed
			if mixproto.Decode(f.Body, &c) == nil {
				t.end(c.ID, nil, KindClosed)
			}
		case mixproto.TypeAACError:
			var e mixproto.AACError
			if mixproto.Decode(f.Body, &e) == nil {
				t.end(e.ID, fmt.Errorf("%w: %s", ErrStreamFailed, e.Message), KindError)
			}
		case mixproto.TypeError:
			var e mixproto.Error
			_ = mixproto.Decode(f.Body, &e)
			t.mu.Lock()
			p.merr = e.Message
			t.mu.Unlock()
		case mixproto.TypeDone:
			t.mu.Lock()
			p.done = true
			t.mu.Unlock()
		}
	}
}

func (t *Transcoder) stream(id uint32) *Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.streams[id]
}

func (t *Transcoder) deliver(id uint32, au AAC) {
	if t.onAAC != nil {
		t.onAAC(id, au)
	}
}

// end finishes a stream: it leaves the transcoder, its Close returns err
// and the callback hears kind.
func (t *Transcoder) end(id uint32, err error, kind Kind) {
	t.mu.Lock()
	s := t.streams[id]
	if s != nil {
		delete(t.streams, id)
	}
	t.mu.Unlock()
	if s == nil {
		return
	}
	// Delivered first: Close returns after the callback has heard it.
	t.deliver(id, AAC{Kind: kind, Err: err})
	s.finish(err)
}

// wait follows one child to its end, killing it when it hangs, and
// starts the next when it died before its end.
func (t *Transcoder) wait(p *proc) {
	exit := make(chan error, 1)
	go func() {
		<-p.read // Wait must not run before the reads are done
		exit <- p.cmd.Wait()
	}()
	timer := time.NewTimer(t.stall)
	defer timer.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-exit:
			waiting = false
		case <-p.progress:
			timer.Reset(t.stall)
		case <-timer.C:
			t.log.Error("transcoder hung: killing it", "pid", p.cmd.Process.Pid)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			timer.Reset(t.stall)
		}
	}
	close(p.dead)
	<-p.wrote
	t.mu.Lock()
	if p.done && err == nil {
		t.mu.Unlock()
		t.endAll(nil)
		t.finish(nil)
		return
	}
	failure := fmt.Errorf("%w: %v %s", ErrChildFailed, err, p.merr)
	t.stats.Failures++
	restart := !t.closing && t.stats.Restarts < t.maxRestarts
	t.log.Error("transcoder exited", "error", failure, "restarting", restart)
	if !restart {
		t.mu.Unlock()
		t.endAll(failure)
		t.finish(failure)
		return
	}
	t.stats.Restarts++
	t.m.Restarts.Inc()
	// Streams that were flushing lost their last units with the child.
	var lost []uint32
	var reopen []mixproto.AACOpen
	for id, s := range t.streams {
		if s.closing.Load() {
			lost = append(lost, id)
			continue
		}
		s.restarted.Store(true)
		reopen = append(reopen, s.open)
	}
	t.mu.Unlock()
	for _, id := range lost {
		t.end(id, failure, KindClosed)
	}
	time.Sleep(restartPause)
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		t.endAll(failure)
		t.finish(failure)
		return
	}
	serr := t.spawnLocked(reopen)
	t.mu.Unlock()
	if serr != nil {
		t.endAll(serr)
		t.finish(serr)
	}
}

// endAll ends every stream still open (the child is gone for good).
func (t *Transcoder) endAll(err error) {
	if err == nil {
		err = ErrClosed
	}
	t.mu.Lock()
	ids := make([]uint32, 0, len(t.streams))
	for id := range t.streams {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	for _, id := range ids {
		t.end(id, err, KindClosed)
	}
}

func (t *Transcoder) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.finished:
	default:
		t.final = err
		close(t.finished)
	}
}

// control queues a control item, waiting a little for room.
func (t *Transcoder) control(it item) error {
	select {
	case t.q <- it:
		return nil
	default:
	}
	timer := time.NewTimer(controlWait)
	defer timer.Stop()
	select {
	case t.q <- it:
		return nil
	case <-t.finished:
		return ErrClosed
	case <-timer.C:
		return ErrBusy
	}
}

// Open opens stream id in the child. Its results go to the WithOnAAC
// callback under id.
func (t *Transcoder) Open(id uint32, p Params) (*Stream, error) {
	o := p.open(id)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	switch {
	case t.closing || !t.started || t.Err() != nil:
		t.mu.Unlock()
		return nil, ErrClosed
	case t.streams[id] != nil:
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: %d", ErrStreamOpen, id)
	case len(t.streams) >= t.maxStreams:
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: %d open", ErrTooManyStreams, len(t.streams))
	}
	s := &Stream{t: t, id: id, open: o, closed: make(chan struct{})}
	t.streams[id] = s
	t.mu.Unlock()
	if err := t.control(item{t: mixproto.TypeAACOpen, id: id, open: o}); err != nil {
		t.mu.Lock()
		delete(t.streams, id)
		t.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// Close flushes every stream and stops the child. When ctx ends first,
// the child is asked to stop (SIGTERM: it still flushes) and then killed.
func (t *Transcoder) Close(ctx context.Context) error {
	t.mu.Lock()
	if !t.started {
		t.started, t.closing = true, true
		t.mu.Unlock()
		t.finish(nil)
		return nil
	}
	t.closing = true
	t.mu.Unlock()
	select {
	case t.q <- item{t: mixproto.TypeEnd}:
	case <-t.finished:
	case <-ctx.Done():
	}
	select {
	case <-t.finished:
	case <-ctx.Done():
		t.signal(syscall.SIGTERM)
		select {
		case <-t.finished:
		case <-time.After(5 * time.Second):
			t.signal(syscall.SIGKILL)
			<-t.finished
		}
	}
	// Packets queued after the End are returned to the pool.
	for {
		select {
		case it := <-t.q:
			if it.buf != nil {
				t.pool.Put(it.buf)
			}
		default:
			return t.final
		}
	}
}

func (t *Transcoder) signal(sig syscall.Signal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p != nil && t.p.cmd.Process != nil {
		_ = syscall.Kill(-t.p.cmd.Process.Pid, sig)
	}
}

// Err is the transcoder's end: nil while it runs and after a clean
// finish.
func (t *Transcoder) Err() error {
	select {
	case <-t.finished:
		return t.final
	default:
		return nil
	}
}

// PID is the current child's process id (0 before Start).
func (t *Transcoder) PID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil || t.p.cmd.Process == nil {
		return 0
	}
	return t.p.cmd.Process.Pid
}

// Stats returns the transcoder's counters.
func (t *Transcoder) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Dropped = t.dropped.Load()
	return s
}

// Stream is one open stream.
type Stream struct {
	t         *Transcoder
	id        uint32
	open      mixproto.AACOpen
	closing   atomic.Bool
	restarted atomic.Bool
	closed    chan struct{}
	once      sync.Once
	err       error // after closed
}

// ID is the stream's id.
func (s *Stream) ID() uint32 { return s.id }

// Write hands one Opus packet (copied) to the transcoder; pts is its
// time on the stream's clock, e.g. from its RTP timestamp. Packets must
// come in pts order; a hole in pts is a hole in the sound, concealed or
// silent, of exactly that length. Write never blocks and does not
// allocate: it returns false, counting ars_aac_dropped_packets_total,
// when the queue is full, the packet empty or larger than WithMaxPacket,
// or the stream closing. Safe for concurrent use.
func (s *Stream) Write(pts time.Duration, opus []byte) bool {
	t := s.t
	if len(opus) == 0 || len(opus) > t.maxPacket || s.closing.Load() {
		t.drop()
		return false
	}
	buf := t.pool.Get().(*[]byte)
	*buf = append((*buf)[:0], opus...)
	select {
	case t.q <- item{t: mixproto.TypeAACOpus, id: s.id, pts: int64(pts), buf: buf}:
		return true
	default:
		t.pool.Put(buf)
		t.drop()
		return false
	}
}

// Silence says the stream is silent, no packet coming, up to pts (its
// clock): the transcoder fills silence up to there now, so its units keep
// coming while a sender sends nothing (muted without DTX, a stall), not
// in a burst when its next packet arrives. A packet later written with a
// pts before that is dropped as late: call it with a time the packets
// cannot still reach (now minus the jitter allowed). At most 10 s a call;
// nothing before the stream's first packet. Never blocks; false when the
// queue is full or the stream closing.
func (s *Stream) Silence(pts time.Duration) bool {
	if s.closing.Load() {
		return false
	}
	select {
	case s.t.q <- item{t: mixproto.TypeAACSilence, id: s.id, pts: int64(pts)}:
		return true
	default:
		return false
	}
}

func (t *Transcoder) drop() {
	t.dropped.Add(1)
	t.m.Dropped.Inc()
}

// Close flushes the stream and waits until its last units have been
// delivered (KindClosed). When ctx ends first it returns ctx's error; the
// flush goes on and its results are still delivered. It must not be
// called from the WithOnAAC callback.
func (s *Stream) Close(ctx context.Context) error {
	if !s.closing.Swap(true) {
		if err := s.t.control(item{t: mixproto.TypeAACClose, id: s.id}); err != nil {
			// The stream will end with the child (or its restart).
			s.t.log.Warn("close not queued", "stream", s.id, "error", err)
		}
	}
	select {
	case <-s.closed:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Stream) finish(err error) {
	s.once.Do(func() {
		s.closing.Store(true)
		s.err = err
		close(s.closed)
	})
}
