package netguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/metrics"
)

// Resolver looks up a host's addresses (*net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard applies the outbound policy to URL checks and to every
// connection of its dialers.
type Guard struct {
	allow     AllowList
	selfIPs   []netip.Addr
	selfPorts []uint16
	resolver  Resolver
	ifaces    func() []netip.Addr
	log       *slog.Logger
	m         *metrics.Metrics
	timeout   time.Duration
}

// Option configures a Guard.
type Option func(*Guard)

// WithAllowList lets the guard reach what the list names.
func WithAllowList(a AllowList) Option { return func(g *Guard) { g.allow = a } }

// WithSelf names the daemon's own listening TCP ports and the addresses
// it is known by besides its interfaces' (a bind address, a public IP
// behind NAT): a connection to one of those ports on one of those
// addresses or on any local interface is refused, allow-list or not, so
// the daemon can never be made to call its own API.
func WithSelf(ips []netip.Addr, ports []uint16) Option {
	return func(g *Guard) {
		for _, ip := range ips {
			g.selfIPs = append(g.selfIPs, ip.WithZone("").Unmap())
		}
		g.selfPorts = append(g.selfPorts, ports...)
	}
}

// WithResolver replaces the system resolver.
func WithResolver(r Resolver) Option { return func(g *Guard) { g.resolver = r } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(g *Guard) { g.log = l } }

// WithMetrics counts refusals in ars_outbound_refused_total.
func WithMetrics(m *metrics.Metrics) Option { return func(g *Guard) { g.m = m } }

// WithDialTimeout bounds one connection attempt (default 10 s).
func WithDialTimeout(d time.Duration) Option { return func(g *Guard) { g.timeout = d } }

// New builds a guard.
func New(opts ...Option) *Guard {
	g := &Guard{resolver: net.DefaultResolver, ifaces: interfaceAddrs, log: slog.Default(), timeout: 10 * time.Second}
	for _, o := range opts {
		o(g)
	}
	g.log = g.log.With("component", "netguard")
	return g
}

func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().WithZone("").Unmap())
		}
	}
	return out
}

// isSelf reports whether ap is one of the daemon's own listeners.
func (g *Guard) isSelf(ap netip.AddrPort) bool {
	if !slices.Contains(g.selfPorts, ap.Port()) {
		return false
	}
	ip := ap.Addr().WithZone("").Unmap()
	// A listener on all interfaces answers on every local address,
	// the whole of 127/8 and the unspecified address included.
	if ip.IsLoopback() || ip.IsUnspecified() || slices.Contains(g.selfIPs, ip) {
		return true
	}
	return slices.Contains(g.ifaces(), ip)
}

// check applies the policy to one address; byName is set when the
// allow-list names the host the address was resolved from.
func (g *Guard) check(purpose string, ap netip.AddrPort, byName bool) error {
	ip := ap.Addr().WithZone("").Unmap()
	ap = netip.AddrPortFrom(ip, ap.Port())
	var reason string
	self := g.isSelf(ap)
	switch {
	case self:
		reason = "the daemon's own listener"
	case byName || g.allow.allowsAddr(ip):
		return nil
	default:
		why, bad := Refused(ip)
		if !bad {
			return nil
		}
		reason = why
	}
	if g.m != nil {
		g.m.OutboundRefused.WithLabelValues(purpose).Inc()
	}
	g.log.Debug("outbound connection refused", "purpose", purpose, "addr", ap.String(), "reason", reason)
	return &ForbiddenError{Addr: ap, Reason: reason, Self: self}
}

// CheckAddr applies the policy to one address and port.
func (g *Guard) CheckAddr(purpose string, ap netip.AddrPort) error {
	return g.check(purpose, ap, false)
}

// CheckURL resolves u's host and refuses the URL if any of its addresses
// is refused, so that a request naming it can be answered with a clear
// error before anything is sent. A host the allow-list names passes
// without a lookup. A lookup failure is returned as it is (not
// ErrForbiddenAddress): the name may resolve later, and then the dialer
// checks what it resolves to.
func (g *Guard) CheckURL(ctx context.Context, purpose string, u *url.URL) error {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%w: not an http(s) URL with a host", ErrBadURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return g.CheckHost(ctx, purpose, net.JoinHostPort(u.Hostname(), port))
}

// CheckHost is CheckURL for a host:port.
func (g *Guard) CheckHost(ctx context.Context, purpose, hostport string) error {
	host, ips, port, byName, err := g.resolve(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if err := g.check(purpose, netip.AddrPortFrom(ip, port), byName); err != nil {
			var fe *ForbiddenError
			if _, notIP := netip.ParseAddr(host); notIP != nil && errors.As(err, &fe) {
				fe.Host = host
			}
			return err
		}
	}
	return nil
}

// resolve splits hostport and finds its addresses.
func (g *Guard) resolve(ctx context.Context, network, hostport string) (host string, ips []netip.Addr, port uint16, byName bool, err error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", nil, 0, false, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", nil, 0, false, fmt.Errorf("%w: port %q", ErrBadURL, p)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return host, []netip.Addr{ip}, uint16(n), false, nil
	}
	lookup := "ip"
	switch network {
	case "tcp4", "udp4":
		lookup = "ip4"
	case "tcp6", "udp6":
		lookup = "ip6"
	}
	ips, err = g.resolver.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return host, nil, 0, false, fmt.Errorf("netguard: resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return host, nil, 0, false, fmt.Errorf("netguard: %s has no address", host)
	}
	return host, ips, uint16(n), g.allow.allowsHost(host), nil
}

// Dialer is a net.Dialer whose Control hook refuses, at connect time,
// any address the policy refuses: whatever resolved the name, the socket
// never connects there. Callers that resolve names themselves and need a
// *net.Dialer use it; DialContext is preferred (it also tries the next
// address of a name when one is refused).
func (g *Guard) Dialer(purpose string) *net.Dialer {
	return g.dialer(purpose, false)
}

func (g *Guard) dialer(purpose string, byName bool) *net.Dialer {
	return &net.Dialer{Timeout: g.timeout, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparsable %q", ErrForbiddenAddress, address)
			}
			return g.check(purpose, ap, byName)
		}}
}

// DialContext returns a dial function (for http.Transport and the like)
// that resolves the host itself, skips refused addresses, and connects
// through Dialer, so the policy is checked on the very address connected
// to.
func (g *Guard) DialContext(purpose string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		_, ips, port, byName, err := g.resolve(ctx, network, address)
		if err != nil {
			return nil, err
		}
		d := g.dialer(purpose, byName)
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, port).String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}

// Transport is an HTTP transport whose every connection goes through
// DialContext. It ignores HTTP_PROXY and the like: through a proxy the
// policy would see only the proxy's address.
func (g *Guard) Transport(purpose string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext(purpose)
	return t
}

// HTTPClient is an HTTP client on Transport with a timeout for whole
// requests (0: none).
func (g *Guard) HTTPClient(purpose string, timeout time.Duration) *http.Client {
	return &http.Client{Transport: g.Transport(purpose), Timeout: timeout}
}
