package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/connlimit"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/obsfold"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
)

// KeyVerifier checks Agora keys (internal/rdk.Verifier).
type KeyVerifier interface {
	VerifyRecording(key, channel string, uid uint32) error
	VerifyMedia(key, channel string, uid uint32) error
}

// RTPAttacher routes a participant's RTP streams to a UDP port
// (internal/rtpingest.Engine).
type RTPAttacher interface {
	Attach(p *session.Participant, streams []storage.StreamInfo, opts ...rtpingest.AttachOption) (int, error)
}

// Server is the HTTP API.
type Server struct {
	mixes   *arsmix.Mixes
	mgr     *session.Manager
	keys    KeyVerifier
	rtp     RTPAttacher
	metrics *metrics.Metrics
	log     *slog.Logger
	mux     *http.ServeMux
	srv     *http.Server
	ln      net.Listener
	done    chan error
	gate    *KeyGate
	limits  *connlimit.Listener

	maxConns, maxConnsPerIP int
	idleTimeout             time.Duration
	fdGate                  connlimit.FDGate
	// joins keeps plain-RTP joins for a restart (nil: not kept).
	joins *state.Table[joinRecord]
	// pins keeps the host each unbound join was pinned to.
	pins *state.Table[pinRecord]
	// mixRecs keeps the live composites for a restart.
	mixRecs *state.Table[mixRecord]
	// nodeAddress is answered as a join's rtpHost (ARS_NODE_ADDRESS).
	nodeAddress string
}

// Option configures a Server.
type Option func(*Server)

// WithNodeAddress is the host a join answers as rtpHost: this node's
// ARS_NODE_ADDRESS.
func WithNodeAddress(addr string) Option { return func(s *Server) { s.nodeAddress = addr } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithKeyGate shares one failure budget per client address between the API
// and the other components that check keys.
func WithKeyGate(g *KeyGate) Option { return func(s *Server) { s.gate = g } }

// WithConnLimits bounds the HTTP connections held in total and per client
// address (default 2048 and 64).
func WithConnLimits(total, perIP int) Option {
	return func(s *Server) { s.maxConns, s.maxConnsPerIP = total, perIP }
}

// WithIdleTimeout closes keep-alive connections idle this long (default 15s).
func WithIdleTimeout(d time.Duration) Option { return func(s *Server) { s.idleTimeout = d } }

// WithMixes enables "mixed": true recordings (nil: refused).
func WithMixes(x *arsmix.Mixes) Option { return func(s *Server) { s.mixes = x } }

// WithFDGate refuses connections the descriptor reserve cannot spare
// (internal/fdlimit.Reserve).
func WithFDGate(g connlimit.FDGate) Option { return func(s *Server) { s.fdGate = g } }

// New builds the API over its dependencies.
func New(mgr *session.Manager, keys KeyVerifier, rtp RTPAttacher, m *metrics.Metrics, opts ...Option) *Server {
	s := &Server{mgr: mgr, keys: keys, rtp: rtp, metrics: m, log: slog.Default(), mux: http.NewServeMux(),
		maxConns: 2048, maxConnsPerIP: 64, idleTimeout: 15 * time.Second}
	for _, o := range opts {
		o(s)
	}
	if s.gate == nil {
		s.gate = NewKeyGate(m, s.log)
	}
	s.log = s.log.With("component", "api")
	s.mux.HandleFunc("POST /v1/recording/start", s.handleStart)
	s.mux.HandleFunc("POST /v1/recording/stop", s.handleStop)
	s.mux.HandleFunc("GET /v1/recording/status", s.handleStatus)
	s.mux.HandleFunc("POST /v1/rtp/join", s.handleRTPJoin)
	s.mux.HandleFunc("DELETE /v1/rtp/{id}", s.handleRTPLeave)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return s
}

// Handle mounts another component's handler (WHIP, the console).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the whole API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.refuseFolded(s.mux) }

// connKey is the context key of a request's scanned connection.
type connKey struct{}

// Listen binds the HTTP port; Serve answers on it. They are separate so
// that readiness is reported only once the port is bound. Every accepted
// connection is scanned for folded headers and held within the
// connection budget.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	limits, err := connlimit.New(obsfold.NewListener(ln), s.maxConns, s.maxConnsPerIP,
		connlimit.WithMetrics(s.metrics), connlimit.WithLogger(s.log), connlimit.WithFDGate(s.fdGate),
		connlimit.WithRefusal(s.refusals()))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	s.ln, s.limits = limits, limits
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // recordings are served from here too
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState:         limits.ConnState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, obsfold.Find(c))
		},
	}
	return nil
}

// refusals are the answers written to a connection over budget before it
// is closed, one per reason, rendered once.
func (s *Server) refusals() func(connlimit.Reason) []byte {
	answers := map[connlimit.Reason][]byte{
		connlimit.ReasonPerIP: rawError(apiError(http.StatusTooManyRequests, "too_many_connections_from_address",
			fmt.Sprintf("this client address already holds %d connections; reuse one or close some", s.maxConnsPerIP))),
		connlimit.ReasonTotal: rawError(apiError(http.StatusServiceUnavailable, "too_many_connections",
			fmt.Sprintf("the server holds its maximum of %d connections; retry shortly", s.maxConns))),
		connlimit.ReasonFDReserve: rawError(apiError(http.StatusServiceUnavailable, "descriptors_reserved",
			"the server keeps its remaining file descriptors for recordings; retry shortly")),
	}
	return func(r connlimit.Reason) []byte { return answers[r] }
}

// refuseFolded answers 400 to a request on a connection whose client
// folded a header line, and closes the connection: net/http would join
// the lines, a proxy in front might not.
func (s *Server) refuseFolded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fc, _ := r.Context().Value(connKey{}).(*obsfold.Conn); fc != nil && fc.Folded() {
			w.Header().Set("Connection", "close")
			WriteError(w, apiError(http.StatusBadRequest, "header_folding",
				"a header line starts with a space or tab (obsolete line folding, RFC 9112 section 5.2); send each header on one line"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Start serves in the background.
func (s *Server) Start() {
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("http api listening", "addr", s.ln.Addr().String())
}

// Close stops accepting requests and waits for those in flight.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if s.done != nil {
		if serr := <-s.done; err == nil {
			err = serr
		}
	}
	return err
}

// CheckKey runs a key check through the server's KeyGate.
func (s *Server) CheckKey(r *http.Request, check func() error) *Error { return s.gate.Check(r, check) }

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
