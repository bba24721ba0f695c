package sysd

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// probeTimeout bounds one self-probe. It stays well under any sensible
// WatchdogSec= (ars.service uses 30s, pinging every 15s).
const probeTimeout = 5 * time.Second

// AllHealthy is a check that passes while every check passes. It stops at
// the first failure.
func AllHealthy(checks ...func() bool) func() bool {
	return func() bool {
		for _, c := range checks {
			if !c() {
				return false
			}
		}
		return true
	}
}

// HTTPProbe is a check that the daemon's own HTTP server at addr answers
// GET path with 200: a hung accept loop or a deadlocked handler fails it,
// which a mere "the process is alive" never would. An unspecified listen
// address (0.0.0.0, ::) is probed over loopback.
func HTTPProbe(addr net.Addr, path string) func() bool {
	target := dialable(addr)
	client := &http.Client{
		Timeout: probeTimeout,
		// A fresh connection each time: a kept-alive one would pass even
		// when the accept loop no longer takes new clients.
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	url := "http://" + target + path
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// dialable turns a listen address into one a client can connect to. Go's
// wildcard listener is dual-stack (or IPv4 only where IPv6 is off), so IPv4
// loopback reaches it either way.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	host := tcp.IP.String()
	if tcp.Zone != "" {
		host += "%" + tcp.Zone
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
