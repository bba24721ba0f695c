package batch

import (
	"runtime"
	"time"
)

// DefaultMaxAge is how far back a pass looks: the ARS guide leaves
// recordings older than three days alone.
const DefaultMaxAge = 72 * time.Hour

// DefaultQueue bounds the pool's backlog. Anything beyond it is left to the
// hourly pass rather than held in memory.
const DefaultQueue = 16

// settings is shared by Pass and Pool; each reads the fields it documents.
type settings struct {
	workers   int
	queue     int
	root      string
	maxAge    time.Duration
	onPlanned func(total int)
	onDone    func(FileResult)
}

// Option configures a Pass or a Pool.
type Option func(*settings)

// PoolOption is an Option given to NewPool.
type PoolOption = Option

// WithWorkers sets how many captures convert at once. A pass defaults to
// the CPU count, the daemon's pool to 1 so that capture is never starved.
func WithWorkers(n int) Option {
	return func(s *settings) { s.workers = n }
}

// WithQueue bounds how many submitted captures the pool holds while its
// workers are busy (pool only; default DefaultQueue).
func WithQueue(n int) Option {
	return func(s *settings) { s.queue = n }
}

// WithRoot sets the recording root a pass scans (pass only).
func WithRoot(dir string) Option {
	return func(s *settings) { s.root = dir }
}

// WithMaxAge makes a pass skip captures last modified longer ago than d;
// d <= 0 disables the limit (pass only; default DefaultMaxAge). Paths given
// explicitly to Pass.Run are converted whatever their age.
func WithMaxAge(d time.Duration) Option {
	return func(s *settings) { s.maxAge = d }
}

// WithOnPlanned is called once per pass with the number of captures it
// is about to try, before any conversion starts (pass only).
func WithOnPlanned(fn func(total int)) Option {
	return func(s *settings) { s.onPlanned = fn }
}

// WithOnDone is called once for every capture a pool was given, and for
// every capture a pass counted in its planned total, whatever the outcome,
// after its log line is written. Captures a pass rules out while planning
// (already converted, too old, unreadable paths) are only in its Report.
// It may be called from several goroutines at once.
func WithOnDone(fn func(FileResult)) Option {
	return func(s *settings) { s.onDone = fn }
}

func newSettings(defaultWorkers int, opts []Option) settings {
	s := settings{workers: defaultWorkers, queue: DefaultQueue, maxAge: DefaultMaxAge}
	for _, o := range opts {
		o(&s)
	}
	if s.workers < 1 {
		s.workers = 1
	}
	if s.queue < 0 {
		s.queue = 0
	}
	return s
}

func cpuWorkers() int { return runtime.NumCPU() }
