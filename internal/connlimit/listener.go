package connlimit

import (
	"container/list"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/metrics"
)

// Reason says why a connection was refused; its values are the label of
// ars_http_connections_refused_total.
type Reason string

// Refusal reasons.
const (
	ReasonTotal     Reason = "total"
	ReasonPerIP     Reason = "per_ip"
	ReasonFDReserve Reason = "fd_reserve"
)

// FDGate reports whether one more descriptor may be spent on a network
// connection while held connections are open (internal/fdlimit.Reserve).
type FDGate interface {
	Allow(held int) bool
}

// Listener is a net.Listener that admits connections within its budget.
type Listener struct {
	net.Listener
	maxTotal int
	maxPerIP int
	fd       FDGate
	refusal  func(Reason) []byte
	metrics  *metrics.Metrics
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	// idle holds the evictable connections, longest idle at the front.
	idle     list.List
	lastWarn map[Reason]time.Time
}

// Option configures a Listener.
type Option func(*Listener)

// WithFDGate refuses connections the descriptor reserve cannot spare.
func WithFDGate(g FDGate) Option { return func(l *Listener) { l.fd = g } }

// WithMetrics counts into m.
func WithMetrics(m *metrics.Metrics) Option { return func(l *Listener) { l.metrics = m } }

// WithLogger sets the logger.
func WithLogger(log *slog.Logger) Option { return func(l *Listener) { l.log = log } }

// WithRefusal sets the bytes written to a refused connection before it is
// closed (the HTTP server's error answer); by default nothing is written.
func WithRefusal(f func(Reason) []byte) Option { return func(l *Listener) { l.refusal = f } }

// New wraps ln with at most maxTotal connections, maxPerIP of them from
// one client address.
func New(ln net.Listener, maxTotal, maxPerIP int, opts ...Option) (*Listener, error) {
	if maxTotal < 1 || maxPerIP < 1 {
		return nil, fmt.Errorf("%w: total %d, per address %d", ErrBadLimit, maxTotal, maxPerIP)
	}
	l := &Listener{
		Listener: ln, maxTotal: maxTotal, maxPerIP: maxPerIP, log: slog.Default(), now: time.Now,
		perIP: map[netip.Addr]int{}, lastWarn: map[Reason]time.Time{},
	}
	for _, o := range opts {
		o(l)
	}
	if l.metrics == nil {
		l.metrics = metrics.New()
	}
	l.log = l.log.With("component", "connlimit")
	return l, nil
}

// Conn is an admitted connection; closing it returns its place.
type Conn struct {
	net.Conn
	l    *Listener
	key  netip.Addr
	once sync.Once
	// Guarded by l.mu.
	elem     *list.Element
	released bool
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Close closes the connection and returns its place in the budget.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// Key is the budget key of a remote address: the IPv4 address, or the
// IPv6 /64 it lies in.
func Key(addr net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Accept returns the next connection within budget; those over it are
// refused here and never returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &Conn{Conn: nc, l: l, key: Key(nc.RemoteAddr())}
		reason, victim := l.admit(c)
		if victim != nil {
			// Closing the underlying connection makes the HTTP server's
			// read fail; its Close then finds the place already returned.
			_ = victim.Conn.Close()
			l.metrics.HTTPConnEvicted.Inc()
		}
		if reason == "" {
			return c, nil
		}
		l.refuse(nc, c.key, reason)
	}
}

// admit takes a place for c, evicting the longest-idle connection when
// the total or the descriptors are short; it returns why c is refused.
func (l *Listener) admit(c *Conn) (Reason, *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[c.key] >= l.maxPerIP {
		return ReasonPerIP, nil
	}
	var victim *Conn
	reason := Reason("")
	if l.total >= l.maxTotal {
		reason = ReasonTotal
	} else if l.fd != nil && !l.fd.Allow(l.total) {
		reason = ReasonFDReserve
	}
	if reason != "" {
		front := l.idle.Front()
		if front == nil {
			return reason, nil
		}
		victim = front.Value.(*Conn)
		l.releaseLocked(victim)
	}
	l.total++
	l.perIP[c.key]++
	c.elem = l.idle.PushBack(c) // evictable until its first request is read
	l.metrics.HTTPConnections.Set(float64(l.total))
	return "", victim
}

func (l *Listener) release(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(c)
}

func (l *Listener) releaseLocked(c *Conn) {
	if c.released {
		return
	}
	c.released = true
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	l.total--
	if n := l.perIP[c.key] - 1; n > 0 {
		l.perIP[c.key] = n
	} else {
		delete(l.perIP, c.key)
	}
	l.metrics.HTTPConnections.Set(float64(l.total))
}

// refuse answers and closes a connection over budget. The refusal is a
// few hundred bytes into an empty socket buffer, so the write does not
// wait; the deadline guards against a peer that shrank its window to 0.
func (l *Listener) refuse(nc net.Conn, key netip.Addr, reason Reason) {
	l.metrics.HTTPConnRefused.WithLabelValues(string(reason)).Inc()
	if l.refusal != nil {
		_ = nc.SetWriteDeadline(l.now().Add(50 * time.Millisecond))
		_, _ = nc.Write(l.refusal(reason))
	}
	_ = nc.Close()
	l.warn(key, reason)
}

// warn logs refusals at most once a minute per reason.
func (l *Listener) warn(key netip.Addr, reason Reason) {
	l.mu.Lock()
	now := l.now()
	due := now.Sub(l.lastWarn[reason]) >= time.Minute
	if due {
		l.lastWarn[reason] = now
	}
	total := l.total
	l.mu.Unlock()
	if due {
		l.log.Warn("http connection refused (logged once a minute per reason)", "reason", string(reason),
			"client", key.String(), "connections", total, "max", l.maxTotal, "max_per_ip", l.maxPerIP)
	}
}

// ConnState is the http.Server's ConnState hook: a connection is
// evictable while idle between requests, and not while one is served.
func (l *Listener) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	switch s {
	case http.StateIdle:
		if c.elem == nil {
			c.elem = l.idle.PushBack(c)
		}
	case http.StateActive, http.StateHijacked, http.StateClosed:
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
	}
}

// Count is the number of connections held.
func (l *Listener) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
