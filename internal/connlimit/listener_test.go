package connlimit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type server struct {
	t       *testing.T
	l       *Listener
	m       *metrics.Metrics
	addr    string
	release chan struct{} // closes to let /block answer
	srv     *http.Server
}

func refusal(r Reason) []byte {
	body := `{"error":{"code":"` + string(r) + `"}}`
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}

func newServer(t *testing.T, total, perIP int, opts ...Option) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	l, err := New(ln, total, perIP, append([]Option{WithMetrics(m), WithRefusal(refusal), WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, l: l, m: m, addr: ln.Addr().String(), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "ok")
	})
	s.srv = &http.Server{Handler: mux, ConnState: l.ConnState, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() { _ = s.srv.Serve(l); close(done) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		<-done
	})
	return s
}

// client is one keep-alive connection from a chosen loopback address.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

func (s *server) dial(from string) *client {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c)}
}

// get sends a request and reads the answer: the status and body, or the
// error that ended the connection.
func (c *client) get(path string) (int, string, error) {
	if _, err := io.WriteString(c.c, "GET "+path+" HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		return 0, "", err
	}
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (s *server) waitCount(n int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.l.Count() != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("holding %d connections, want %d", s.l.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPerAddressLimit(t *testing.T) {
	s := newServer(t, 100, 3)
	// Three busy connections from one address fill its share: a fourth
	// is refused, with the refusal.
	busy := make([]*client, 3)
	for i := range busy {
		busy[i] = s.dial("127.0.0.2")
		if _, err := io.WriteString(busy[i].c, "GET /block HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	s.waitCount(3)
	time.Sleep(50 * time.Millisecond) // let the server read the requests
	code, body, err := s.dial("127.0.0.2").get("/ok")
	if err != nil || code != 503 || !strings.Contains(body, "per_ip") {
		t.Fatalf("fourth connection from one address: %d %q %v", code, body, err)
	}
	if got := testutil.ToFloat64(s.m.HTTPConnRefused.WithLabelValues("per_ip")); got != 1 {
		t.Errorf("per_ip refusals counted %v", got)
	}
	// Another address is judged on its own.
	other := s.dial("127.0.0.3")
	if code, _, err := other.get("/ok"); err != nil || code != 200 {
		t.Fatalf("another address: %d %v", code, err)
	}
	// Once they are idle, a newcomer from the address takes the place of
	// its longest idle connection; the other address is not touched.
	close(s.release)
	for i, c := range busy {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("busy connection %d: %v", i, err)
		}
		resp.Body.Close()
	}
	time.Sleep(20 * time.Millisecond)
	if code, _, err := s.dial("127.0.0.2").get("/ok"); err != nil || code != 200 {
		t.Fatalf("newcomer with idle siblings: %d %v", code, err)
	}
	_ = busy[0].c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy[0].br.ReadByte(); err == nil {
		t.Error("the address's longest idle connection was not closed")
	}
	if code, _, err := other.get("/ok"); err != nil || code != 200 {
		t.Fatalf("the other address's connection: %d %v", code, err)
	}
	s.waitCount(4)
}

func TestIPv6KeysOnThe64(t *testing.T) {
	a := Key(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1})
	b := Key(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 2})
	c := Key(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 3})
	v4 := Key(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4})
	if a != b || a == c || v4.String() != "192.0.2.7" {
		t.Fatalf("keys %v %v %v %v", a, b, c, v4)
	}
}

func TestTotalLimitEvictsIdleNotBusy(t *testing.T) {
	s := newServer(t, 3, 3)
	// Three busy connections fill the budget: a fourth is refused, none
	// of the busy ones is touched.
	var wg sync.WaitGroup
	busy := make([]*client, 3)
	results := make([]error, 3)
	for i := range busy {
		busy[i] = s.dial(fmt.Sprintf("127.0.0.%d", 10+i))
		if _, err := io.WriteString(busy[i].c, "GET /block HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	s.waitCount(3)
	time.Sleep(50 * time.Millisecond) // let the server read the requests
	code, body, err := s.dial("127.0.0.20").get("/ok")
	if err != nil || code != 503 || !strings.Contains(body, "total") {
		t.Fatalf("over the total with busy connections: %d %q %v", code, body, err)
	}
	close(s.release)
	for i, c := range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(c.br, nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			results[i] = err
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Fatalf("busy connection %d was cut: %v", i, err)
		}
	}
	// Now all three are idle: a newcomer evicts the longest idle one.
	time.Sleep(20 * time.Millisecond)
	if code, _, err := s.dial("127.0.0.21").get("/ok"); err != nil || code != 200 {
		t.Fatalf("newcomer with idle connections held: %d %v", code, err)
	}
	if got := testutil.ToFloat64(s.m.HTTPConnEvicted.WithLabelValues("total")); got != 1 {
		t.Errorf("evictions counted %v", got)
	}
	_ = busy[0].c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy[0].br.ReadByte(); err == nil {
		t.Error("the longest idle connection was not closed")
	}
	s.waitCount(3)
	if got := testutil.ToFloat64(s.m.HTTPConnections); got != 3 {
		t.Errorf("ars_http_connections %v", got)
	}
}

type fullFD struct{}

func (fullFD) Allow(int) bool { return false }

func TestFDGateRefuses(t *testing.T) {
	s := newServer(t, 100, 100, WithFDGate(fullFD{}))
	code, body, err := s.dial("127.0.0.2").get("/ok")
	if err != nil || code != 503 || !strings.Contains(body, "fd_reserve") {
		t.Fatalf("with no descriptor to spare: %d %q %v", code, body, err)
	}
	if got := testutil.ToFloat64(s.m.HTTPConnRefused.WithLabelValues("fd_reserve")); got != 1 {
		t.Errorf("fd_reserve refusals counted %v", got)
	}
}

func TestReleaseAndNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newServer(t, 100, 40)
	var cs []*client
	for i := 0; i < 40; i++ {
		c := s.dial("127.0.0.2")
		if code, _, err := c.get("/ok"); err != nil || code != 200 {
			t.Fatalf("%d: %d %v", i, code, err)
		}
		cs = append(cs, c)
	}
	for i := 0; i < 20; i++ { // each takes the place of an idle sibling
		c := s.dial("127.0.0.2")
		if code, _, err := c.get("/ok"); err != nil || code != 200 {
			t.Fatalf("newcomer %d: %d %v", i, code, err)
		}
		cs = append(cs, c)
	}
	s.waitCount(40)
	if got := testutil.ToFloat64(s.m.HTTPConnEvicted.WithLabelValues("per_ip")); got != 20 {
		t.Errorf("evictions %v", got)
	}
	for _, c := range cs { // the evicted ones are closed already
		c.c.Close()
	}
	s.waitCount(0)
	if got := testutil.ToFloat64(s.m.HTTPConnections); got != 0 {
		t.Errorf("gauge %v after closes", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
