package batch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// Pool converts captures in the daemon as their recordings end. It is
// bounded on both sides: few workers (default 1) so that conversion never
// takes the CPU that live capture needs, and a short queue whose overflow
// is refused and left to the hourly pass.
type Pool struct {
	convert Converter
	logger  *slog.Logger
	s       settings

	ctx    context.Context // cancelled to abort in-flight conversions
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   chan string
	started bool
	closed  bool
	wg      sync.WaitGroup
}

// NewPool makes a pool. Options: WithWorkers (default 1), WithQueue,
// WithOnDone.
func NewPool(convert Converter, logger *slog.Logger, opts ...Option) *Pool {
	s := newSettings(1, opts)
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		convert: convert,
		logger:  logger.With("component", Component),
		s:       s,
		ctx:     ctx,
		cancel:  cancel,
		queue:   make(chan string, s.queue),
	}
}

// Start launches the workers. Captures submitted before Start wait in the
// queue.
func (p *Pool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	for range p.s.workers {
		p.wg.Add(1)
		go p.work()
	}
}

func (p *Pool) work() {
	defer p.wg.Done()
	for src := range p.queue {
		p.finish(convertOne(p.ctx, p.convert, src))
	}
}

func (p *Pool) finish(fr FileResult) {
	logResult(p.logger, fr)
	if p.s.onDone != nil {
		p.s.onDone(fr)
	}
}

// Submit queues a finished capture for conversion without blocking. It
// returns false when the pool is closed or its queue is full; the capture
// then waits for the hourly pass.
func (p *Pool) Submit(capturePath string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.logger.Warn("conversion pool closed, left for the hourly pass", "file", capturePath)
		return false
	}
	select {
	case p.queue <- capturePath:
		return true
	default:
		p.logger.Warn("conversion queue full, left for the hourly pass", "file", capturePath,
			"queue", cap(p.queue))
		return false
	}
}

// Close stops accepting captures and lets the workers finish the queue
// until ctx is done; then it aborts the conversions in flight (their
// .transcoding files are removed), reports what was still queued as
// interrupted, and returns ctx's error. It returns once every worker has
// exited. Calling it again waits the same way.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	started := p.started
	p.mu.Unlock()

	if !started {
		// Nobody will ever take these: account for them.
		for src := range p.queue {
			p.finish(FileResult{Path: src, Status: StatusInterrupted, Reason: ReasonShutdown})
		}
		p.cancel()
		return nil
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return fmt.Errorf("conversion pool close: %w", ctx.Err())
	}
}
