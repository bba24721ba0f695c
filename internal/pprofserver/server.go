package pprofserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"
)

// Server serves /debug/pprof/ on a loopback address.
type Server struct {
	addr string
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// CheckAddr reports whether addr is host:port with a loopback host.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotLoopback, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return nil
}

// New makes a server for addr (see CheckAddr); Start listens.
func New(addr string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{addr: addr, log: log.With("component", "pprof")}
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	if err := CheckAddr(s.addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.ln = ln
	// No write timeout: a CPU profile or trace streams for as long as
	// asked (?seconds=N).
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("pprof server stopped", "err", err)
		}
	}()
	s.log.Warn("profiling endpoint enabled", "addr", ln.Addr().String())
	return nil
}

// Addr is the address listened on (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server; a profile being taken is cut off.
func (s *Server) Close(context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	return err
}
