package fdlimit

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Limit is RLIMIT_NOFILE.
type Limit struct{ Soft, Hard uint64 }

// Get reads the process's descriptor limit.
func Get() (Limit, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return Limit{}, fmt.Errorf("getrlimit: %w", err)
	}
	return Limit{Soft: rl.Cur, Hard: rl.Max}, nil
}

// Raise sets the soft limit to the hard limit and returns the limit in
// force afterwards (Go's runtime already does this at start on Linux;
// doing it here makes it explicit and reportable).
func Raise() (Limit, error) {
	l, err := Get()
	if err != nil {
		return l, err
	}
	if l.Soft >= l.Hard {
		return l, nil
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: l.Hard, Max: l.Hard}); err != nil {
		return l, fmt.Errorf("setrlimit: %w", err)
	}
	return Get()
}

// MinConns is the smallest HTTP connection budget a plan leaves.
const MinConns = 16

// Plan is how a descriptor limit is shared out.
type Plan struct {
	// Limit is the soft limit planned for.
	Limit int
	// Base is what the daemon holds itself (listeners, UDP sockets, logs).
	Base int
	// Reserve is kept free for capture files.
	Reserve int
	// MaxConns is the HTTP connection budget.
	MaxConns int
	// Shrunk tells that the asked reserve or budget did not fit.
	Shrunk bool
}

// MakePlan fits the reserve and the HTTP budget into limit after base:
// the reserve first (files matter more than clients), the HTTP budget
// shrunk to what is left, and the reserve itself cut only so far as to
// leave MinConns connections.
func MakePlan(limit uint64, base, reserve, maxConns int) (Plan, error) {
	lim := int(min(limit, 1<<30))
	p := Plan{Limit: lim, Base: base, Reserve: reserve, MaxConns: maxConns}
	avail := lim - base
	if avail < MinConns+1 {
		return p, fmt.Errorf("%w: %d descriptors, the daemon needs %d for itself and %d for HTTP clients", ErrLimitTooSmall, lim, base, MinConns+1)
	}
	if p.Reserve > avail-MinConns {
		p.Reserve, p.Shrunk = avail-MinConns, true
	}
	if p.MaxConns > avail-p.Reserve {
		p.MaxConns, p.Shrunk = avail-p.Reserve, true
	}
	return p, nil
}

// Reserve answers whether a network connection may take a descriptor. It
// counts the open descriptors (/proc/self/fd) at most once per interval
// and, in between, adds the change in the connections the caller holds,
// which is what moves fastest in a flood.
type Reserve struct {
	limit, reserve int
	every          time.Duration
	now            func() time.Time
	onCount        func(int)

	mu      sync.Mutex
	counted time.Time
	open    int // at the last count
	heldAt  int // connections held at the last count
}

// NewReserve keeps reserve of limit descriptors free; onCount (may be nil)
// receives every count (a metric).
func NewReserve(limit, reserve int, onCount func(int)) *Reserve {
	return &Reserve{limit: limit, reserve: reserve, every: 100 * time.Millisecond, now: time.Now, onCount: onCount}
}

// Allow reports whether one more descriptor may go to a network
// connection while held connections are open.
func (r *Reserve) Allow(held int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.counted.IsZero() || now.Sub(r.counted) >= r.every {
		n, err := CountOpen()
		if err != nil {
			// Not even /proc/self/fd could be opened: the table is full.
			return false
		}
		r.open, r.heldAt, r.counted = n, held, now
		if r.onCount != nil {
			r.onCount(n)
		}
	}
	// The new connection's descriptor is already counted in open when it
	// was accepted after the count; +1 errs on the safe side otherwise.
	est := r.open + (held - r.heldAt) + 1
	return est <= r.limit-r.reserve
}

// CountOpen counts the process's open descriptors.
func CountOpen() (int, error) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count descriptors: %w", err)
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		n += len(names)
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n - 1, nil // the directory's own descriptor
}
