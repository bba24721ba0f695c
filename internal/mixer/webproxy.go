package mixer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ars-project/ars/internal/netguard"
)

// webProxy is the only way out of the recorded page: Chromium runs with
// --proxy-server pointing here (and <-loopback>, so loopback is proxied
// too), and every connection, named or an IP literal, is dialled through
// the netguard guard, which refuses loopback, private, link-local and the
// daemon's own ports unless the operator allowed them. DNS is resolved
// here, not by Chromium, so a rebinding name is checked at connect time.
type webProxy struct {
	guard *netguard.Guard
	log   *slog.Logger
	srv   *http.Server
	ln    net.Listener
	tr    *http.Transport
}

const proxyPurpose = "web page"

func startWebProxy(guard *netguard.Guard, log *slog.Logger) (*webProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &webProxy{guard: guard, log: log, ln: ln, tr: guard.Transport(proxyPurpose)}
	p.tr.Proxy = nil
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *webProxy) addr() string { return p.ln.Addr().String() }

func (p *webProxy) close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

func (p *webProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		p.log.Info("page request refused or failed", "host", r.URL.Host, "error", err)
		http.Error(w, "ars web recorder: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *webProxy) connect(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := p.guard.DialContext(proxyPurpose)(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		p.log.Info("page connection refused or failed", "host", r.Host, "error", err)
		http.Error(w, "ars web recorder: "+err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		return
	}
	w.WriteHeader(http.StatusOK)
	down, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		_, _ = up.Write(b)
	}
	go func() {
		_, _ = io.Copy(up, down)
		up.Close()
	}()
	_, _ = io.Copy(down, up)
	down.Close()
}
