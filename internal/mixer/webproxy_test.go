package mixer

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/netguard"
)

// The page's only way out refuses loopback unless allowed, IP literal or
// not, plain HTTP or CONNECT, and the daemon's own ports even when
// allowed.
func TestWebProxyRefuses(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret") }))
	defer target.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret") }))
	defer tls.Close()
	_, tport, _ := net.SplitHostPort(tls.Listener.Addr().String())
	tp, _ := strconv.Atoi(tport)
	allow, _ := netguard.ParseAllowList("127.0.0.0/8")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name  string
		guard *netguard.Guard
		ok    bool
	}{
		{"default policy", netguard.New(), false},
		{"allowed", netguard.New(netguard.WithAllowList(allow)), true},
		{"allowed but the daemon's port", netguard.New(netguard.WithAllowList(allow), netguard.WithSelf(nil, []uint16{uint16(tp), port(t, target.URL)})), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := startWebProxy(tt.guard, log)
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			pu, _ := url.Parse("http://" + p.addr())
			tr := tls.Client().Transport.(*http.Transport).Clone()
			tr.Proxy = http.ProxyURL(pu)
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			for _, u := range []string{target.URL, tls.URL} { // plain HTTP, then CONNECT
				resp, err := c.Get(u)
				ok := err == nil && resp.StatusCode == 200
				if resp != nil {
					resp.Body.Close()
				}
				if ok != tt.ok {
					t.Errorf("%s through the proxy: ok=%v (err %v), want %v", u, ok, err, tt.ok)
				}
			}
		})
	}
}

func port(t *testing.T, u string) uint16 {
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(pu.Port())
	return uint16(n)
}
