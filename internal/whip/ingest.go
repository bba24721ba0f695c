package whip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
)

// KeyVerifier checks media channel keys (internal/rdk.Verifier).
type KeyVerifier interface {
	VerifyMedia(key, channel string, uid uint32) error
}

// Mounter is where handlers are mounted (internal/api.Server).
type Mounter interface {
	Handle(pattern string, h http.Handler)
}

// Ingest is the WebRTC ingest: the WHIP endpoint and every PeerConnection
// it created.
type Ingest struct {
	mgr              *session.Manager
	keys             KeyVerifier
	bind             string
	port             int
	publicIP         string
	hosts            []string
	resolver         *net.Resolver
	keyframeInterval time.Duration
	iceTimeout       time.Duration
	maxPending       int
	maxPendingAddr   int
	gatherTimeout    time.Duration
	log              *slog.Logger
	metrics          *metrics.Metrics
	gate             *api.KeyGate

	api      *webrtc.API
	announce announcement
	pending  *pendingGate
	udpConn  net.PacketConn
	udpMux   ice.UDPMux
	tcpLn    net.Listener
	tcpMux   ice.TCPMux

	mu     sync.Mutex
	peers  map[*peer]struct{}
	closed bool
	// wg counts live peers: each is done once its PeerConnection is closed
	// and its goroutines have returned.
	wg sync.WaitGroup
}

// Option configures an Ingest.
type Option func(*Ingest)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(g *Ingest) { g.log = l } }

// WithMetrics sets the instruments packets are counted with.
func WithMetrics(m *metrics.Metrics) Option { return func(g *Ingest) { g.metrics = m } }

// WithKeyGate shares the API's per-address budget of failed key checks.
func WithKeyGate(gate *api.KeyGate) Option { return func(g *Ingest) { g.gate = gate } }

// WithPublicIP announces ip in ICE candidates, for a server behind 1:1
// NAT: it is one more host of WithHosts.
func WithPublicIP(ip string) Option { return func(g *Ingest) { g.publicIP = ip } }

// WithHosts sets the IPs or host names announced as ICE host candidates
// on the ICE port, whatever the host's interfaces (mediamtx's
// webrtcAdditionalHosts). Names are resolved once, by Start. Without
// hosts (and no public IP) the bound address is announced, or on an
// unspecified bind the interfaces' addresses, loopback only when it is
// all there is.
func WithHosts(hosts ...string) Option {
	return func(g *Ingest) { g.hosts = append([]string(nil), hosts...) }
}

// WithPendingLimits caps the sessions answered but not yet connected (ICE
// and DTLS): total in all, perAddr per client address (IPv6 per /64).
func WithPendingLimits(total, perAddr int) Option {
	return func(g *Ingest) { g.maxPending, g.maxPendingAddr = total, perAddr }
}

// WithICETimeout ends a session that has not connected this long after
// its answer.
func WithICETimeout(d time.Duration) Option { return func(g *Ingest) { g.iceTimeout = d } }

// WithKeyframeInterval asks every sender for a keyframe this often while
// its channel records (0 disables).
func WithKeyframeInterval(d time.Duration) Option {
	return func(g *Ingest) { g.keyframeInterval = d }
}

// New makes the ingest. ICE traffic of every session shares UDP port
// (and TCP port) port on bind ("" = all interfaces); port 0 disables
// WebRTC, and the endpoint then answers 503.
func New(mgr *session.Manager, keys KeyVerifier, bind string, port int, opts ...Option) *Ingest {
	g := &Ingest{
		mgr: mgr, keys: keys, bind: bind, port: port,
		keyframeInterval: 3 * time.Second,
		gatherTimeout:    5 * time.Second,
		iceTimeout:       10 * time.Second,
		resolver:         net.DefaultResolver,
		maxPending:       64,
		maxPendingAddr:   8,
		log:              slog.Default(),
		peers:            map[*peer]struct{}{},
	}
	for _, o := range opts {
		o(g)
	}
	if g.metrics == nil {
		g.metrics = metrics.New()
	}
	if g.gate == nil {
		g.gate = api.NewKeyGate(g.metrics, g.log)
	}
	g.log = g.log.With("component", "whip")
	g.pending = newPendingGate(g.maxPending, g.maxPendingAddr, g.metrics.WebRTC)
	return g
}

// Enabled reports whether WebRTC ingest is configured.
func (g *Ingest) Enabled() bool { return g.port != 0 }

// Start binds the ICE port. ICE-TCP on the same port number is a
// fallback: failing to bind it is only a warning.
func (g *Ingest) Start() error {
	if !g.Enabled() {
		g.log.Info("webrtc ingest disabled (ARS_WEBRTC_PORT=0)")
		return nil
	}
	addr := net.JoinHostPort(g.bind, strconv.Itoa(g.port))
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("webrtc port %s: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("webrtc udp port %d: %w", g.port, err)
	}
	ann, err := newAnnouncement(context.Background(), g.resolver, g.configuredHosts(), ua.IP)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("ARS_WEBRTC_HOSTS: %w", err)
	}
	if len(ann.hosts) == 0 {
		g.log.Warn("no address to announce as an ICE candidate: WebRTC clients cannot connect; set ARS_WEBRTC_HOSTS")
	}
	g.announce = ann
	logs := pionLogs{log: g.log}
	g.udpConn = conn
	mux := &hostsMux{
		UDPMux: ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: logs.muxLogger(), UDPConn: conn}),
		port:   conn.LocalAddr().(*net.UDPAddr).Port,
		hosts:  g.announce.current,
	}
	if ip := ua.IP; ip != nil && !ip.IsUnspecified() {
		mux.bound = conn.LocalAddr()
	}
	g.udpMux = mux
	if ln, err := net.Listen("tcp", addr); err != nil {
		g.log.Warn("ICE-TCP fallback unavailable", "addr", addr, "err", err)
	} else {
		g.tcpLn = ln
		g.tcpMux = webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), ln, 64)
	}
	api, err := g.newAPI(logs)
	if err != nil {
		g.closeMuxes()
		return err
	}
	g.api = api
	g.log.Info("webrtc ingest listening", "udp", conn.LocalAddr().String(), "tcp", g.tcpLn != nil,
		"hosts", addrList(ann.hosts), "tcp_hosts", g.tcpHosts(), "max_pending", g.maxPending,
		"max_pending_per_addr", g.maxPendingAddr, "ice_timeout", g.iceTimeout)
	return nil
}

// configuredHosts are WithHosts and the public IP, which is one of them.
func (g *Ingest) configuredHosts() []string {
	hosts := slices.Clone(g.hosts)
	if g.publicIP != "" && !slices.Contains(hosts, g.publicIP) {
		hosts = append(hosts, g.publicIP)
	}
	return hosts
}

// tcpHosts lists the addresses ICE-TCP candidates carry.
func (g *Ingest) tcpHosts() string {
	if g.tcpMux == nil {
		return ""
	}
	var out []netip.Addr
	for _, h := range g.announce.tcpLocal {
		if slices.Contains(g.announce.hosts, h) {
			out = append(out, h)
		}
	}
	for _, r := range g.announce.tcpRules {
		out = append(out, r.external...)
	}
	return addrList(out)
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func (g *Ingest) closeMuxes() {
	if g.udpMux != nil {
		_ = g.udpMux.Close()
	}
	if g.udpConn != nil {
		_ = g.udpConn.Close()
	}
	if g.tcpMux != nil {
		_ = g.tcpMux.Close()
	}
	if g.tcpLn != nil {
		_ = g.tcpLn.Close()
	}
}

// Close ends every session (its participant leaves) and releases the ICE
// port. It returns once every PeerConnection is closed.
func (g *Ingest) Close() {
	g.mu.Lock()
	g.closed = true
	peers := make([]*peer, 0, len(g.peers))
	for pr := range g.peers {
		peers = append(peers, pr)
	}
	g.mu.Unlock()
	for _, pr := range peers {
		pr.shutdown("server shutdown")
	}
	g.wg.Wait()
	g.closeMuxes()
}

// Sessions is the number of live WebRTC sessions.
func (g *Ingest) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.peers)
}

// track registers a new peer; it fails once Close has begun.
func (g *Ingest) track(pr *peer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.peers[pr] = struct{}{}
	g.wg.Add(1)
	return nil
}

func (g *Ingest) forget(pr *peer) {
	g.mu.Lock()
	delete(g.peers, pr)
	g.mu.Unlock()
	g.wg.Done()
}
