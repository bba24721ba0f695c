package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
)

func TestRefusedTable(t *testing.T) {
	cases := map[string]bool{
		// refused
		"127.0.0.1": true, "127.8.9.10": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "100.64.0.1": true, "100.127.255.254": true,
		"0.0.0.0": true, "0.1.2.3": true, "255.255.255.255": true, "224.0.0.1": true, "239.255.255.250": true,
		"240.0.0.1": true, "192.0.2.5": true, "198.18.0.1": true, "192.0.0.8": true,
		"::": true, "::1": true, "fe80::1": true, "fe80::1%eth0": true, "fc00::1": true, "fd12:3456::1": true,
		"ff02::1": true, "fec0::1": true, "2001:db8::1": true, "2001:0:4136:e378::1": true,
		"::ffff:127.0.0.1": true, "::ffff:10.1.2.3": true, "::ffff:169.254.169.254": true, "::ffff:0.0.0.0": true,
		"::127.0.0.1": true, "64:ff9b::7f00:1": true, "64:ff9b::a01:203": true, "2002:7f00:1::1": true,
		"2002:a9fe:a9fe::1": true, "64:ff9b:1::1": true, "100::1": true,
		// allowed
		"8.8.8.8": false, "1.1.1.1": false, "172.32.0.1": false, "100.128.0.1": false, "192.169.0.1": false,
		"2606:4700::1111": false, "::ffff:8.8.8.8": false, "64:ff9b::808:808": false, "2002:808:808::1": false,
		"169.255.0.1": false, "11.0.0.1": false,
	}
	for s, want := range cases {
		ip := netip.MustParseAddr(s)
		why, got := Refused(ip)
		if got != want {
			t.Errorf("Refused(%s) = %v (%q), want %v", s, got, why, want)
		}
		if got && why == "" {
			t.Errorf("Refused(%s) gives no reason", s)
		}
	}
}

// listener is a real TCP listener that counts the connections it accepts.
type listener struct {
	ln       net.Listener
	accepted atomic.Int32
}

func listen(t *testing.T, addr string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	l := &listener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return l
}

func (l *listener) port() uint16 { return uint16(l.ln.Addr().(*net.TCPAddr).Port) }

// noAccept checks after a short wait that the listener saw nothing: a
// refused dial must not have reached it.
func (l *listener) noAccept(t *testing.T) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if n := l.accepted.Load(); n != 0 {
		t.Fatalf("listener accepted %d connection(s) the guard should have refused", n)
	}
}

func TestDialerControlRefusesLoopback(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	m := metrics.New()
	g := New(WithMetrics(m))
	addr := "127.0.0.1:" + strconv.Itoa(int(l.port()))
	_, err := g.Dialer("test").Dial("tcp", addr)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("dial %s: %v, want ErrForbiddenAddress", addr, err)
	}
	_, err = g.DialContext("test")(context.Background(), "tcp", "[::ffff:127.0.0.1]:"+strconv.Itoa(int(l.port())))
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("dial mapped loopback: %v, want ErrForbiddenAddress", err)
	}
	l.noAccept(t)
	if got := testutil.ToFloat64(m.OutboundRefused.WithLabelValues("test")); got != 2 {
		t.Errorf("ars_outbound_refused_total{purpose=test} = %v, want 2", got)
	}
}

// rebinder answers a public address on the first lookup and loopback on
// every later one, as a DNS rebinding attacker's server does.
type rebinder struct {
	mu    sync.Mutex
	calls int
	later netip.Addr
}

func (r *rebinder) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	return []netip.Addr{r.later}, nil
}

func TestDNSRebindingRefusedAtConnect(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	res := &rebinder{later: netip.MustParseAddr("127.0.0.1")}
	g := New(WithResolver(res))
	u, _ := url.Parse("http://storage.example.com:" + strconv.Itoa(int(l.port())))
	if err := g.CheckURL(context.Background(), "storage", u); err != nil {
		t.Fatalf("first lookup is public, CheckURL: %v", err)
	}
	// The upload, later, resolves again and gets loopback.
	resp, err := g.HTTPClient("storage", 5*time.Second).Get(u.String())
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET to a name rebound to 127.0.0.1 succeeded")
	}
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("GET: %v, want ErrForbiddenAddress", err)
	}
	l.noAccept(t)
}

func TestCheckURL(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	g := New(WithSelf(nil, []uint16{l.port()}))
	ctx := context.Background()
	for _, raw := range []string{
		"http://127.0.0.1:9000", "http://169.254.169.254", "http://10.1.2.3", "http://[::1]:9000",
		"http://[::ffff:127.0.0.1]:9000", "http://localhost:9000", "https://0.0.0.0", "http://[fe80::1%25eth0]:80",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.CheckURL(ctx, "storage", u); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckURL(%s) = %v, want ErrForbiddenAddress", raw, err)
		}
	}
	for _, raw := range []string{"ftp://8.8.8.8", "http://", "file:///etc/passwd"} {
		u, _ := url.Parse(raw)
		if err := g.CheckURL(ctx, "storage", u); !errors.Is(err, ErrBadURL) {
			t.Errorf("CheckURL(%s) = %v, want ErrBadURL", raw, err)
		}
	}
	u, _ := url.Parse("https://8.8.8.8")
	if err := g.CheckURL(ctx, "storage", u); err != nil {
		t.Errorf("CheckURL(public) = %v", err)
	}
}

func TestAllowListAndSelf(t *testing.T) {
	target := listen(t, "127.0.0.1:0")
	self := listen(t, "127.0.0.1:0")
	allow, err := ParseAllowList("127.0.0.1/32, storage.internal")
	if err != nil {
		t.Fatal(err)
	}
	g := New(WithAllowList(allow), WithSelf(nil, []uint16{self.port()}),
		WithResolver(&rebinder{calls: 1, later: netip.MustParseAddr("10.9.9.9")}))
	ctx := context.Background()
	dial := g.DialContext("storage")
	c, err := dial(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(int(target.port())))
	if err != nil {
		t.Fatalf("allow-listed 127.0.0.1: %v", err)
	}
	c.Close()
	// The daemon's own port stays refused on any local address, even
	// allow-listed ones.
	for _, host := range []string{"127.0.0.1", "127.0.0.2", "[::ffff:127.0.0.1]"} {
		_, err := dial(ctx, "tcp", host+":"+strconv.Itoa(int(self.port())))
		var fe *ForbiddenError
		if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) || !fe.Self {
			t.Errorf("dial own port on %s: %v, want a ForbiddenError for the daemon itself", host, err)
		}
	}
	self.noAccept(t)
	// A name on the list may resolve to a private address; others not.
	for host, ok := range map[string]bool{"storage.internal": true, "STORAGE.internal.": true, "other.internal": false} {
		u, _ := url.Parse("http://" + host + ":9000")
		err := g.CheckURL(ctx, "storage", u)
		if ok != (err == nil) {
			t.Errorf("CheckURL(%s) = %v, want allowed=%v", host, err, ok)
		}
	}
	u, _ := url.Parse("http://10.1.2.3")
	if err := g.CheckURL(ctx, "storage", u); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("10.1.2.3 outside the allow-list: %v", err)
	}
	if target.accepted.Load() != 1 {
		t.Errorf("allowed target accepted %d connections, want 1", target.accepted.Load())
	}
	// Transport never uses a proxy from the environment.
	if g.Transport("x").Proxy != nil {
		t.Error("guarded transport uses a proxy")
	}
	var _ http.RoundTripper = g.Transport("x")
}

func TestParseAllowList(t *testing.T) {
	good := map[string]string{
		"":                                  "",
		"127.0.0.1/32":                      "127.0.0.1/32",
		" 127.0.0.1 , 10.0.0.0/8,,":         "127.0.0.1/32,10.0.0.0/8",
		"::1,fd00::/8":                      "::1/128,fd00::/8",
		"10.1.2.3/8":                        "10.0.0.0/8",
		"::ffff:10.0.0.0/104":               "10.0.0.0/8",
		"::ffff:127.0.0.1":                  "127.0.0.1/32",
		"Minio.Internal.,127.0.0.1":         "127.0.0.1/32,minio.internal",
		"localhost":                         "localhost",
		"a-b.c1.example,10.0.0.0/8,1.2.3.4": "10.0.0.0/8,1.2.3.4/32,a-b.c1.example",
	}
	for in, want := range good {
		a, err := ParseAllowList(in)
		if err != nil {
			t.Errorf("ParseAllowList(%q): %v", in, err)
			continue
		}
		if a.String() != want {
			t.Errorf("ParseAllowList(%q) = %q, want %q", in, a.String(), want)
		}
	}
	for _, in := range []string{"10.0.0.0/33", "10.0.0", "-bad.example", "bad_name", "fe80::1%eth0", "http://x", "a..b", "1.2.3.4/x", "[::1]"} {
		if _, err := ParseAllowList(in); !errors.Is(err, ErrBadAllowList) {
			t.Errorf("ParseAllowList(%q) = %v, want ErrBadAllowList", in, err)
		}
	}
}
