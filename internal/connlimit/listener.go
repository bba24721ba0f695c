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
	perIP map[netip.Addr]*addrState
	// idle holds the evictable connections, longest idle at the front.
	idle     list.List
	lastWarn map[Reason]time.Time
}

// addrState is one client address's share: its count and its evictable
// connections, longest idle first.
type addrState struct {
	n    int
	idle list.List
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
		perIP: map[netip.Addr]*addrState{}, lastWarn: map[Reason]time.Time{},
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
	// Guarded by l.mu: the places in the idle lists while evictable.
	elem, addrElem *list.Element
	released       bool
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
	var a netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		a = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		a = ap.Addr()
	}
	a = a.Unmap()
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
			l.metrics.HTTPConnEvicted.WithLabelValues(string(reason)).Inc()
			return c, nil
		}
		if reason == "" {
			return c, nil
		}
		l.refuse(nc, c.key, reason)
	}
}

// admit takes a place for c, evicting the longest-idle connection of its
// address when the address is at its budget, or of anyone when the total
// or the descriptors are short. It returns the budget that was full (c is
// refused unless there is a victim) and the victim.
func (l *Listener) admit(c *Conn) (Reason, *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	as := l.perIP[c.key]
	if as == nil {
		as = &addrState{}
		l.perIP[c.key] = as
	}
	var victim *Conn
	var full Reason
	switch {
	case as.n >= l.maxPerIP:
		// The address competes only with itself: its newest connection
		// is served before its longest idle one.
		front := as.idle.Front()
		if front == nil {
			l.dropEmpty(c.key, as)
			return ReasonPerIP, nil
		}
		victim = front.Value.(*Conn)
		full = ReasonPerIP
	case l.total >= l.maxTotal || (l.fd != nil && !l.fd.Allow(l.total)):
		reason := ReasonTotal
		if l.total < l.maxTotal {
			reason = ReasonFDReserve
		}
		front := l.idle.Front()
		if front == nil {
			l.dropEmpty(c.key, as)
			return reason, nil
		}
		victim = front.Value.(*Conn)
		full = reason
	}
	if victim != nil {
		l.releaseLocked(victim)
		if l.perIP[c.key] == nil { // the victim was the address's last
			l.perIP[c.key] = as
		}
	}
	l.total++
	as.n++
	l.idleLocked(c, as) // evictable until its first request is read
	l.metrics.HTTPConnections.Set(float64(l.total))
	return full, victim
}

func (l *Listener) dropEmpty(key netip.Addr, as *addrState) {
	if as.n == 0 {
		delete(l.perIP, key)
	}
}

func (l *Listener) idleLocked(c *Conn, as *addrState) {
	if c.elem == nil {
		c.elem = l.idle.PushBack(c)
		c.addrElem = as.idle.PushBack(c)
	}
}

func (l *Listener) busyLocked(c *Conn, as *addrState) {
	if c.elem != nil {
		l.idle.Remove(c.elem)
		as.idle.Remove(c.addrElem)
		c.elem, c.addrElem = nil, nil
	}
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
	as := l.perIP[c.key]
	l.busyLocked(c, as)
	l.total--
	if as.n--; as.n == 0 {
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
	as := l.perIP[c.key]
	switch s {
	case http.StateIdle:
		l.idleLocked(c, as)
	case http.StateActive, http.StateHijacked, http.StateClosed:
		l.busyLocked(c, as)
	}
}

// Count is the number of connections held.
func (l *Listener) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
