package whip

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/ars-project/ars/internal/metrics"
)

// pendingGate counts the WHIP sessions answered but not yet connected.
// Such a session costs a PeerConnection (ICE agent, DTLS state, its
// goroutines: ~140 KB) and a participant, yet anyone with a valid media
// key can open one by POSTing an offer and never answering STUN. The
// gate caps them in total and per client address until they connect or
// end; it is consulted before any pion object exists.
type pendingGate struct {
	m       metrics.WebRTC
	max     int
	perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

func newPendingGate(max, perAddr int, m metrics.WebRTC) *pendingGate {
	return &pendingGate{m: m, max: max, perAddr: perAddr, byAddr: map[netip.Addr]int{}}
}

// clientKey is the bucket of a request's address: the address itself, or
// for IPv6 its /64, which one subscriber usually holds whole. An address
// that cannot be read shares the zero bucket.
func clientKey(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// admit takes a slot for a new session of client, or says which cap is
// reached (ErrTooManyPending, ErrTooManyPendingFromAddr).
func (g *pendingGate) admit(client netip.Addr) (*pendingSlot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max {
		g.m.RefusedPending.Inc()
		return nil, ErrTooManyPending
	}
	if g.byAddr[client] >= g.perAddr {
		g.m.RefusedPendingAddr.Inc()
		return nil, ErrTooManyPendingFromAddr
	}
	g.total++
	g.byAddr[client]++
	g.m.Pending.Inc()
	return &pendingSlot{g: g, client: client}, nil
}

// count is the number of pending sessions.
func (g *pendingGate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// pendingSlot is one admitted session's place; it is given back once,
// when the session connects or ends, whichever comes first.
type pendingSlot struct {
	g      *pendingGate
	client netip.Addr
	once   sync.Once
}

// release gives the slot back; later calls do nothing.
func (s *pendingSlot) release() {
	s.once.Do(func() {
		g := s.g
		g.mu.Lock()
		g.total--
		if n := g.byAddr[s.client] - 1; n > 0 {
			g.byAddr[s.client] = n
		} else {
			delete(g.byAddr, s.client)
		}
		g.mu.Unlock()
		g.m.Pending.Dec()
	})
}
