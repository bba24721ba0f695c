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

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
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
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithKeyGate shares one failure budget per client address between the API
// and the other components that check keys.
func WithKeyGate(g *KeyGate) Option { return func(s *Server) { s.gate = g } }

// New builds the API over its dependencies.
func New(mgr *session.Manager, keys KeyVerifier, rtp RTPAttacher, m *metrics.Metrics, opts ...Option) *Server {
	s := &Server{mgr: mgr, keys: keys, rtp: rtp, metrics: m, log: slog.Default(), mux: http.NewServeMux()}
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
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the HTTP port; Serve answers on it. They are separate so
// that readiness is reported only once the port is bound.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // recordings are served from here too
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
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
