package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/vcodec"
)

// Defaults of a Snapshotter.
const (
	// DefaultQueue bounds the requests waiting for the child: a
	// session's worth of participants due at once, twice over.
	DefaultQueue = 32
	// DefaultMaxJPEG bounds one JPEG: a 1920x1080 picture at the
	// child's quality is well under 1 MiB.
	DefaultMaxJPEG = 4 << 20
	// DefaultTimeout is how long the child may hold a request before it
	// is taken as hung and killed (it gives up on a keyframe itself after
	// 5 s).
	DefaultTimeout = 15 * time.Second
	// DefaultMaxRestarts bounds the restarts in a row without an answer
	// in between: a child that dies at every keyframe is not restarted
	// forever.
	DefaultMaxRestarts = 5
)

// Request is one keyframe to turn into a JPEG. The Snapshotter owns Data
// once submitted. Tag is the caller's, handed back with the result.
type Request struct {
	Codec       vcodec.Codec
	Orientation vcodec.Orientation
	Data        []byte
	Tag         any
}

// Result is a request's outcome: JPEG, or Err.
type Result struct {
	Tag  any
	JPEG []byte
	Err  error
}

// Stats are a Snapshotter's counters.
type Stats struct {
	Submitted, Dropped, Taken, Failed int64
	Restarts                          int
}

// Option configures a Snapshotter.
type Option func(*Snapshotter)

// WithBinary sets the ars-mixer to run (default: mixrun.FindBinary).
func WithBinary(path string) Option { return func(s *Snapshotter) { s.bin = path } }

// WithLogger sets the logger; the child's stderr goes there too.
func WithLogger(l *slog.Logger) Option { return func(s *Snapshotter) { s.log = l } }

// WithOnResult is called with every request's result (each request gets
// exactly one, before Close returns), on the Snapshotter's goroutines: it
// must not block for long.
func WithOnResult(fn func(Result)) Option { return func(s *Snapshotter) { s.onResult = fn } }

// WithOnDrop is called for each request refused because the queue was
// full (a metric).
func WithOnDrop(fn func()) Option { return func(s *Snapshotter) { s.onDrop = fn } }

// WithOnRestart is called each time a new child takes over after err.
func WithOnRestart(fn func(err error)) Option { return func(s *Snapshotter) { s.onRestart = fn } }

// WithQueue bounds the waiting requests.
func WithQueue(n int) Option { return func(s *Snapshotter) { s.queue = n } }

// WithMaxJPEG bounds one JPEG.
func WithMaxJPEG(n int) Option { return func(s *Snapshotter) { s.maxJPEG = n } }

// WithTimeout bounds how long the child may hold a request.
func WithTimeout(d time.Duration) Option { return func(s *Snapshotter) { s.timeout = d } }

// WithMaxRestarts bounds the restarts in a row.
func WithMaxRestarts(n int) Option { return func(s *Snapshotter) { s.maxRestarts = n } }

type pending struct {
	id   uint32
	req  Request
	sent time.Time
}

// child is one snapshotter process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	done   bool // said TypeDone
}

// Snapshotter supervises one ars-mixer --snapshotter process.
type Snapshotter struct {
	bin         string
	log         *slog.Logger
	onResult    func(Result)
	onDrop      func()
	onRestart   func(error)
	queue       int
	maxJPEG     int
	timeout     time.Duration
	maxRestarts int

	q chan *pending

	mu       sync.Mutex
	c        *child
	inflight map[uint32]*pending
	nextID   uint32
	closing  bool
	dead     bool
	inARow   int
	stats    Stats
	finished chan struct{}
}

// New prepares a Snapshotter; Start runs its child.
func New(opts ...Option) (*Snapshotter, error) {
	s := &Snapshotter{log: slog.Default(), queue: DefaultQueue, maxJPEG: DefaultMaxJPEG, timeout: DefaultTimeout,
		maxRestarts: DefaultMaxRestarts, inflight: map[uint32]*pending{}, finished: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "snapshot")
	if s.queue < 1 {
		s.queue = 1
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.q = make(chan *pending, s.queue)
	if s.bin == "" {
		bin, err := mixrun.FindBinary("")
		if err != nil {
			return nil, err
		}
		s.bin = bin
	}
	return s, nil
}

// Start runs the first child.
func (s *Snapshotter) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil || s.closing {
		return ErrClosed
	}
	return s.spawnLocked()
}

func (s *Snapshotter) spawnLocked() error {
	cmd, stdin, stdout, err := mixrun.StartChild(s.bin, []string{"--snapshotter"}, s.log, "snapshotter")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	s.c = c
	readDone := make(chan struct{})
	go s.write(c, stdin)
	go s.read(c, stdout, readDone)
	go s.wait(c, readDone)
	return nil
}

// Submit hands a request on without blocking. It reports false, and
// calls the drop callback, when the queue is full; false also after
// Close or once the child could not be restarted.
func (s *Snapshotter) Submit(r Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.dead {
		return false
	}
	s.nextID++
	p := &pending{id: s.nextID, req: r}
	select {
	case s.q <- p:
		s.stats.Submitted++
		return true
	default:
		s.stats.Dropped++
		if s.onDrop != nil {
			s.onDrop()
		}
		return false
	}
}

// write hands queued requests to child c until the queue closes (then
// TypeEnd: the child answers what it holds and exits) or c exits.
func (s *Snapshotter) write(c *child, stdin io.WriteCloser) {
	defer stdin.Close()
	w := mixproto.NewWriter(stdin)
	for {
		var p *pending
		var ok bool
		select {
		case p, ok = <-s.q:
		case <-c.exited:
			return
		}
		if !ok {
			_ = w.WriteJSON(mixproto.TypeEnd, nil)
			_ = w.Flush()
			return
		}
		s.mu.Lock()
		p.sent = time.Now()
		s.inflight[p.id] = p
		s.mu.Unlock()
		err := w.WriteSnapRequest(mixproto.SnapRequest{ID: p.id,
			Video: mixproto.VideoMeta{Key: true, Codec: p.req.Codec, Orientation: p.req.Orientation}, Data: p.req.Data})
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			// A request the protocol refuses fails alone; a broken pipe is
			// the child's end, which wait handles.
			s.mu.Lock()
			_, mine := s.inflight[p.id]
			delete(s.inflight, p.id)
			s.mu.Unlock()
			if mine {
				s.deliver(p, Result{Err: fmt.Errorf("snapshot: request not sent: %w", err)})
			}
			if errors.Is(err, mixproto.ErrBadSnapshot) || errors.Is(err, mixproto.ErrFrameTooLarge) {
				continue // refused before anything was written
			}
			return
		}
	}
}

// read takes the child's answers.
func (s *Snapshotter) read(c *child, stdout io.Reader, done chan<- struct{}) {
	defer close(done)
	r := mixproto.NewReader(stdout)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case mixproto.TypeDone:
			s.mu.Lock()
			c.done = true
			s.mu.Unlock()
		case mixproto.TypeSnapResult:
			res, err := mixproto.ParseSnapResult(f.Body)
			if err != nil {
				s.log.Warn("unreadable answer from the snapshotter", "error", err)
				continue
			}
			s.mu.Lock()
			p := s.inflight[res.ID]
			delete(s.inflight, res.ID)
			s.inARow = 0
			s.mu.Unlock()
			if p == nil {
				continue // not asked, or already failed
			}
			switch {
			case res.Err != "":
				s.deliver(p, Result{Err: fmt.Errorf("%w: %s", ErrNoPicture, res.Err)})
			case len(res.JPEG) > s.maxJPEG:
				s.deliver(p, Result{Err: fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLarge, len(res.JPEG), s.maxJPEG)})
			default:
				s.deliver(p, Result{JPEG: append([]byte(nil), res.JPEG...)})
			}
		}
	}
}

// deliver hands one result to the callback and counts it.
func (s *Snapshotter) deliver(p *pending, r Result) {
	r.Tag = p.req.Tag
	s.mu.Lock()
	if r.Err != nil {
		s.stats.Failed++
	} else {
		s.stats.Taken++
	}
	s.mu.Unlock()
	if s.onResult != nil {
		s.onResult(r)
	}
}

// wait follows child c to its end, killing it when it holds a request
// too long, fails what it held and starts the next one unless closing.
func (s *Snapshotter) wait(c *child, readDone <-chan struct{}) {
	exit := make(chan error, 1)
	go func() {
		<-readDone // every answer read before the process is reaped
		exit <- c.cmd.Wait()
	}()
	tick := time.NewTicker(s.timeout / 4)
	defer tick.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-exit:
			waiting = false
		case now := <-tick.C:
			s.mu.Lock()
			hung := false
			for _, p := range s.inflight {
				if now.Sub(p.sent) > s.timeout {
					hung = true
				}
			}
			s.mu.Unlock()
			if hung {
				s.log.Error("snapshotter hung: killing it", "pid", c.cmd.Process.Pid)
				_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	s.mu.Lock()
	close(c.exited)
	held := make([]*pending, 0, len(s.inflight))
	for id, p := range s.inflight {
		held = append(held, p)
		delete(s.inflight, id)
	}
	clean := c.done && err == nil
	restart := !s.closing && !clean && s.inARow < s.maxRestarts
	failure := fmt.Errorf("%w: %v", ErrChildFailed, err)
	s.mu.Unlock()
	for _, p := range held {
		s.deliver(p, Result{Err: failure})
	}
	if !clean {
		s.log.Error("snapshotter exited", "error", err, "restarting", restart)
	}
	if restart {
		time.Sleep(200 * time.Millisecond)
		s.mu.Lock()
		s.inARow++
		s.stats.Restarts++
		if s.closing {
			restart = false
		} else if serr := s.spawnLocked(); serr != nil {
			s.log.Error("snapshotter not restarted", "error", serr)
			restart = false
		}
		s.mu.Unlock()
		if restart {
			if s.onRestart != nil {
				s.onRestart(failure)
			}
			return
		}
	}
	s.mu.Lock()
	s.dead = true
	s.mu.Unlock()
	s.failQueued()
	close(s.finished)
}

// failQueued fails the requests still queued when no child will take
// them.
func (s *Snapshotter) failQueued() {
	for {
		select {
		case p, ok := <-s.q:
			if !ok {
				return
			}
			s.deliver(p, Result{Err: ErrClosed})
		default:
			return
		}
	}
}

// Close answers what is queued and ends the child; when ctx ends first
// the child is killed and what it held fails. Every request gets its
// result before Close returns.
func (s *Snapshotter) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.finished
		return nil
	}
	s.closing = true
	c := s.c
	close(s.q)
	s.mu.Unlock()
	if c == nil {
		s.failQueued()
		close(s.finished)
		return nil
	}
	select {
	case <-s.finished:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	c = s.c
	s.mu.Unlock()
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-s.finished
	return ctx.Err()
}

// Stats returns the counters.
func (s *Snapshotter) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// PID is the current child's process id (0 before Start).
func (s *Snapshotter) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil || s.c.cmd.Process == nil {
		return 0
	}
	return s.c.cmd.Process.Pid
}
