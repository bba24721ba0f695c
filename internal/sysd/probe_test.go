package sysd

import (
	"net"
	"net/http"
	"testing"
)

func serve(t *testing.T, network, addr string, status int) net.Addr {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr()
}

func TestHTTPProbe(t *testing.T) {
	closed := func(t *testing.T) net.Addr {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr()
		ln.Close()
		return a
	}
	tests := []struct {
		name string
		addr func(t *testing.T) net.Addr
		path string
		want bool
	}{
		{"loopback answers 200", func(t *testing.T) net.Addr { return serve(t, "tcp", "127.0.0.1:0", 200) }, "/healthz", true},
		{"wildcard listener probed over loopback", func(t *testing.T) net.Addr { return serve(t, "tcp", ":0", 200) }, "/healthz", true},
		{"IPv6 loopback", func(t *testing.T) net.Addr { return serve(t, "tcp6", "[::1]:0", 200) }, "/healthz", true},
		{"server answers 503", func(t *testing.T) net.Addr { return serve(t, "tcp", "127.0.0.1:0", 503) }, "/healthz", false},
		{"wrong path", func(t *testing.T) net.Addr { return serve(t, "tcp", "127.0.0.1:0", 200) }, "/nope", false},
		{"nobody listens", closed, "/healthz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTTPProbe(tt.addr(t), tt.path)(); got != tt.want {
				t.Fatalf("probe = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAllHealthy(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	tests := []struct {
		checks []func() bool
		want   bool
	}{
		{nil, true},
		{[]func() bool{yes, yes}, true},
		{[]func() bool{yes, no}, false},
		{[]func() bool{no, func() bool { t.Fatal("checked after a failure"); return true }}, false},
	}
	for i, tt := range tests {
		if got := AllHealthy(tt.checks...)(); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}
