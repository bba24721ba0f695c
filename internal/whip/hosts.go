package whip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/pion/ice/v4"
)

// resolveTimeout bounds the start-up lookup of each host name.
const resolveTimeout = 5 * time.Second

// families says which address families the ICE socket serves.
type families struct{ v4, v6 bool }

func (f families) allow(a netip.Addr) bool {
	if a.Is4() {
		return f.v4
	}
	return f.v6
}

func (f families) String() string {
	switch {
	case f.v4 && f.v6:
		return "IPv4 and IPv6"
	case f.v6:
		return "IPv6"
	default:
		return "IPv4"
	}
}

// socketFamilies is what a socket bound to ip serves: one family when it
// is bound to an address, both when unspecified (Go's "udp" and "tcp"
// sockets on [::] are dual-stack).
func socketFamilies(ip net.IP) families {
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() == nil:
		return families{v4: true, v6: true}
	case ip.To4() != nil:
		return families{v4: true}
	default:
		return families{v6: true}
	}
}

// resolveHosts turns the configured hosts (IPs or names) into the
// addresses to announce, in order and without repeats. Names are looked
// up once, here: the answer of each WHIP offer must not wait for DNS, and
// a name that does not resolve is an operator's mistake best reported at
// start. Of a name's addresses those of a family the socket cannot serve
// are skipped; a literal IP of such a family is refused.
func resolveHosts(ctx context.Context, r *net.Resolver, hosts []string, fam families) ([]netip.Addr, error) {
	var out []netip.Addr
	add := func(host string, a netip.Addr) error {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("%w: %q is %s", ErrBadHost, host, a)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
		return nil
	}
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			if !fam.allow(a.Unmap()) {
				return nil, fmt.Errorf("%w: %s, the ICE port serves %s only (see ARS_BIND)", ErrBadHost, h, fam)
			}
			if err := add(h, a); err != nil {
				return nil, err
			}
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		addrs, err := r.LookupNetIP(lctx, "ip", h)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrUnresolvableHost, h, err)
		}
		n := 0
		for _, a := range addrs {
			if !fam.allow(a.Unmap()) {
				continue
			}
			if err := add(h, a); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %q has no %s address", ErrUnresolvableHost, h, fam)
		}
	}
	return out, nil
}

// interfaceHosts are the addresses of the host's interfaces that are up:
// the announced hosts when none are configured and the socket is bound
// to no address. They are read for each session, as pion would: a
// laptop's or a DHCP host's addresses change while the daemon runs. Loopback addresses are left out unless nothing else
// exists (a container or CI runner with only lo): then they are the only
// way in, and a browser on the same host can use them. Link-local
// addresses need a zone no browser can use from an SDP, and are left out.
func interfaceHosts(fam families) []netip.Addr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var global, loop []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			switch {
			case !fam.allow(ip), ip.IsUnspecified(), ip.IsLinkLocalUnicast(), ip.IsMulticast():
			case ip.IsLoopback():
				loop = append(loop, ip)
			default:
				global = append(global, ip)
			}
		}
	}
	if len(global) > 0 {
		return global
	}
	return loop
}

// isLocal reports whether a is an address of one of the host's
// interfaces.
func isLocal(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if ipn, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// hostsMux is the shared UDP mux, announcing the configured hosts
// instead of what the socket's address suggests. pion's mux on an
// unspecified address would announce every interface address except
// loopback (so none at all on a loopback-only host), and on a bound
// address only that one; announced addresses that are not local (a
// public IP before 1:1 NAT) it cannot express at all. Every announced
// host shares the one socket: STUN's USERNAME, not the destination
// address, picks the session.
type hostsMux struct {
	ice.UDPMux
	port int
	// hosts returns the addresses to announce, at each session's
	// gathering.
	hosts func() []netip.Addr
	// bound is the socket's address when it is bound to one; pion's mux
	// then only hands out connections for exactly that address.
	bound net.Addr
}

// GetListenAddresses is what pion gathers host candidates from.
func (m *hostsMux) GetListenAddresses() []net.Addr {
	hosts := m.hosts()
	out := make([]net.Addr, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, &net.UDPAddr{IP: h.AsSlice(), Port: m.port})
	}
	return out
}

// GetConn registers a session's ufrag for a candidate on addr.
func (m *hostsMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	if m.bound != nil {
		addr = m.bound
	}
	return m.UDPMux.GetConn(ufrag, addr)
}

// announcement is what every answer announces, decided at start.
type announcement struct {
	// hosts are the UDP host candidates' addresses, all on the one port
	// (at start, when ifaces is set).
	hosts []netip.Addr
	// ifaces, when set, makes the interfaces' addresses of these families
	// the hosts, read again for each session.
	ifaces *families
	// tcpLocal are the hosts that are addresses of this machine: ICE-TCP
	// candidates are gathered from local addresses, and the TCP mux
	// matches a connection to its session by the address it arrived on.
	tcpLocal []netip.Addr
	// tcpRules announce the other hosts (a public IP before 1:1 NAT) on
	// ICE-TCP as an alias of a local address, the anchor, which the NAT
	// is assumed to forward to.
	tcpRules []tcpAlias
}

// current is the hosts of a session about to gather candidates.
func (a *announcement) current() []netip.Addr {
	if a.ifaces != nil {
		return interfaceHosts(*a.ifaces)
	}
	return a.hosts
}

// tcpAllows reports whether ICE-TCP candidates are gathered on local
// address ip.
func (a *announcement) tcpAllows(ip netip.Addr) bool {
	if a.ifaces != nil {
		return slices.Contains(interfaceHosts(*a.ifaces), ip)
	}
	return slices.Contains(a.tcpLocal, ip)
}

// tcpAlias announces external in place of (or besides) local on ICE-TCP.
type tcpAlias struct {
	local    netip.Addr
	external []netip.Addr
	keep     bool // local is itself announced
}

// newAnnouncement decides the candidates: the configured hosts (names
// resolved) when there are any; otherwise the bound address, or, on an
// unspecified bind, the interfaces' addresses.
func newAnnouncement(ctx context.Context, r *net.Resolver, configured []string, bind net.IP) (announcement, error) {
	fam := socketFamilies(bind)
	var a announcement
	var bound netip.Addr
	if ip, ok := netip.AddrFromSlice(bind); ok && !ip.IsUnspecified() {
		bound = ip.Unmap()
	}
	switch {
	case len(configured) > 0:
		hosts, err := resolveHosts(ctx, r, configured, fam)
		if err != nil {
			return a, err
		}
		a.hosts = hosts
	case bound.IsValid():
		a.hosts = []netip.Addr{bound}
	default:
		a.hosts = interfaceHosts(fam)
		a.ifaces = &fam
		a.tcpLocal = a.hosts
		return a, nil
	}
	var remote []netip.Addr
	for _, h := range a.hosts {
		// A socket bound to one address receives nothing on the others,
		// whatever the machine's interfaces.
		if bound.IsValid() && h == bound || !bound.IsValid() && isLocal(h) {
			a.tcpLocal = append(a.tcpLocal, h)
		} else {
			remote = append(remote, h)
		}
	}
	for _, v4 := range []bool{true, false} {
		var ext []netip.Addr
		for _, h := range remote {
			if h.Is4() == v4 {
				ext = append(ext, h)
			}
		}
		if len(ext) == 0 {
			continue
		}
		anchor := bound
		if !anchor.IsValid() {
			for _, l := range interfaceHosts(families{v4: v4, v6: !v4}) {
				anchor = l
				break
			}
		}
		if !anchor.IsValid() || anchor.Is4() != v4 {
			continue
		}
		keep := slices.Contains(a.tcpLocal, anchor)
		if !keep {
			a.tcpLocal = append(a.tcpLocal, anchor)
		}
		a.tcpRules = append(a.tcpRules, tcpAlias{local: anchor, external: ext, keep: keep})
	}
	return a, nil
}
