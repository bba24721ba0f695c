package api

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ars-project/ars/internal/metrics"
)

// keyGuard slows down key guessing: each client address may fail key checks
// at a bounded rate, and is refused outright (429) while over it. Only
// failures cost; a client with valid keys is never limited.
type keyGuard struct {
	mu      sync.Mutex
	clients map[string]*guardEntry
	every   time.Duration
	burst   int
	max     int
	now     func() time.Time
}

type guardEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// Defaults: 20 failures at once, then one every 3 s per address; at most
// 100k addresses tracked.
func newKeyGuard() *keyGuard {
	return &keyGuard{clients: map[string]*guardEntry{}, every: 3 * time.Second, burst: 20, max: 100000, now: time.Now}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether addr has used up its failures, and when to retry.
func (g *keyGuard) blocked(addr string) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.clients[addr]
	if e == nil {
		return false, 0
	}
	now := g.now()
	if e.lim.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, e.lim.ReserveN(now, 0).DelayFrom(now) + g.every
}

// failed charges one failure to addr.
func (g *keyGuard) failed(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	e := g.clients[addr]
	if e == nil {
		if len(g.clients) >= g.max {
			g.sweepLocked(now)
		}
		e = &guardEntry{lim: rate.NewLimiter(rate.Every(g.every), g.burst)}
		g.clients[addr] = e
	}
	e.seen = now
	e.lim.AllowN(now, 1)
}

// sweepLocked forgets addresses whose budget has refilled; if that frees
// nothing, it forgets everyone (an attacker with that many addresses is not
// slowed by per-address limits anyway).
func (g *keyGuard) sweepLocked(now time.Time) {
	full := time.Duration(g.burst) * g.every
	for k, e := range g.clients {
		if now.Sub(e.seen) > full {
			delete(g.clients, k)
		}
	}
	if len(g.clients) >= g.max {
		g.clients = map[string]*guardEntry{}
	}
}

// KeyGate is the one place every key check of the HTTP surface goes
// through (the recording API, WHIP, the console): it refuses a client over
// its failure budget with 429, charges failures to the client's address,
// counts them by code and logs them without the key.
type KeyGate struct {
	guard   *keyGuard
	metrics *metrics.Metrics
	log     *slog.Logger
}

// NewKeyGate makes a gate counting into m.
func NewKeyGate(m *metrics.Metrics, log *slog.Logger) *KeyGate {
	return &KeyGate{guard: newKeyGuard(), metrics: m, log: log.With("component", "keys")}
}

// Check runs check, a key verification, under the gate.
func (g *KeyGate) Check(r *http.Request, check func() error) *Error {
	addr := clientAddr(r)
	if blocked, retry := g.guard.blocked(addr); blocked {
		// Not "invalid credentials": the credentials were not even checked.
		e := apiError(http.StatusTooManyRequests, "too_many_failures",
			fmt.Sprintf("too many failed key checks from this address; retry after %d s", int(retry.Seconds()+0.999)))
		e.RetryAfter = retry
		return e
	}
	if err := check(); err != nil {
		g.guard.failed(addr)
		ke := KeyError(err)
		g.metrics.KeyFailures.WithLabelValues(ke.Code).Inc()
		g.log.Info("key refused", "path", r.URL.Path, "code", ke.Code, "remote", addr)
		return ke
	}
	return nil
}
