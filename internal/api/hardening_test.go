package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/fdlimit"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

// listening starts a real Server on loopback.
func listening(t *testing.T, opts ...Option) *Server {
	t.Helper()
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: t.TempDir()}, session.WithMetrics(m))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	v, err := rdk.NewVerifier(testAppID, testAppCert)
	if err != nil {
		t.Fatal(err)
	}
	rtp := rtpingest.New("127.0.0.1", 0, -1, rtpingest.WithMetrics(m))
	s := New(mgr, v, rtp, m, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		_ = mgr.Close(ctx)
	})
	return s
}

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialFrom(t *testing.T, s *Server, from string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes raw request bytes and reads one answer with its JSON error
// code.
func (c *rawConn) send(t *testing.T, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", raw, err)
	}
	defer resp.Body.Close()
	var body errorBody
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp, body.Error.Code
}

// TestFoldedHeadersRefused sends obs-fold over raw TCP: net/http would
// join the lines and serve the request; the API answers 400 and closes.
func TestFoldedHeadersRefused(t *testing.T) {
	s := listening(t)
	for name, req := range map[string]string{
		"space": "GET /healthz HTTP/1.1\r\nHost: ars\r\nX-Note: one\r\n two\r\n\r\n",
		"tab":   "GET /healthz HTTP/1.1\r\nHost: ars\r\nX-Note: one\r\n\ttwo\r\n\r\n",
		"second request": "POST /v1/recording/status HTTP/1.1\r\nHost: ars\r\nContent-Length: 4\r\n\r\n\n  \n" +
			"GET /healthz HTTP/1.1\r\nHost: ars\r\nX-Note: one\r\n two\r\n\r\n",
	} {
		c := dialFrom(t, s, "127.0.0.1")
		// Pipelined behind another request, the fold is read with it: the
		// connection is refused from the first request answered after.
		resp, code := c.send(t, req)
		if resp.StatusCode != 400 || code != "header_folding" || !resp.Close {
			t.Errorf("%s: %d %q close=%v", name, resp.StatusCode, code, resp.Close)
		}
	}
	// A body line that starts with white space is no fold.
	c := dialFrom(t, s, "127.0.0.1")
	body := "{\n \"channel\": \"a\"\n}"
	resp, code := c.send(t, "POST /v1/recording/start HTTP/1.1\r\nHost: ars\r\nContent-Type: application/json\r\nContent-Length: "+
		itoa(len(body))+"\r\n\r\n"+body)
	if resp.StatusCode != 400 || code != "invalid_uid" {
		t.Errorf("body with indented lines: %d %q", resp.StatusCode, code)
	}
	if resp, _ := c.send(t, "GET /healthz HTTP/1.1\r\nHost: ars\r\n\r\n"); resp.StatusCode != 200 {
		t.Errorf("the next request on that connection: %d", resp.StatusCode)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestDuplicateFieldsRefused: a field named twice (in any case) is a 400
// duplicate_field, at any depth, before any key is checked.
func TestDuplicateFieldsRefused(t *testing.T) {
	f := newFixture(t)
	for _, b := range []string{
		`{"channel":"a","uid":1,"key":"k","channel":"b"}`,
		`{"channel":"a","uid":1,"key":"k","Channel":"b"}`,
		`{"channel":"a","uid":1,"uid":2,"key":"k"}`,
	} {
		status, out := f.do("POST", "/v1/recording/start", b)
		e, _ := out["error"].(map[string]any)
		if status != 400 || e["code"] != "duplicate_field" {
			t.Errorf("%s: %d %v", b, status, out)
		}
	}
	join := `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"ssrc":2,"payloadType":96,"codec":"H264","clockRate":90000}]}`
	if status, out := f.do("POST", "/v1/rtp/join", join); status != 400 || out["error"].(map[string]any)["code"] != "duplicate_field" {
		t.Errorf("nested duplicate: %d %v", status, out)
	}
	if err := CheckDuplicateKeys([]byte(`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`)); err != nil {
		t.Errorf("the same name in sibling objects: %v", err)
	}
}

// TestLockoutSaysWhy: the 429 of a locked-out address says what happened
// and when to retry, not that the credentials were invalid.
func TestLockoutSaysWhy(t *testing.T) {
	f := newFixture(t)
	var status int
	var out map[string]any
	for i := 0; i < 30 && status != http.StatusTooManyRequests; i++ {
		status, out = f.do("POST", "/v1/recording/start", body("room", 1, "004bogus"))
	}
	e, _ := out["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if status != 429 || e["code"] != "too_many_failures" || !strings.Contains(msg, "retry after ") || !strings.HasSuffix(msg, " s") ||
		strings.Contains(strings.ToLower(msg), "invalid") {
		t.Fatalf("lock-out: %d %v", status, out)
	}
}

// TestConnectionBudgetAnswers: over the per-address budget a client gets
// the API's JSON error (429), another address still gets in, and idle
// keep-alive connections are closed after the idle timeout.
func TestConnectionBudgetAnswers(t *testing.T) {
	s := listening(t, WithConnLimits(16, 2), WithIdleTimeout(time.Second))
	// Two requests being served (their bodies still coming) fill the
	// address's share.
	for i := 0; i < 2; i++ {
		c := dialFrom(t, s, "127.0.0.2")
		if _, err := io.WriteString(c, "POST /v1/recording/start HTTP/1.1\r\nHost: ars\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the server read the headers
	resp, code := dialFrom(t, s, "127.0.0.2").send(t, "GET /healthz HTTP/1.1\r\nHost: ars\r\n\r\n")
	if resp.StatusCode != http.StatusTooManyRequests || code != "too_many_connections_from_address" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection from one address: %d %q", resp.StatusCode, code)
	}
	idle := dialFrom(t, s, "127.0.0.3")
	if resp, _ := idle.send(t, "GET /healthz HTTP/1.1\r\nHost: ars\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("another address: %d", resp.StatusCode)
	}
	held := []*rawConn{idle}
	start := time.Now()
	_ = held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held[0].br.ReadByte(); err == nil {
		t.Fatal("data on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle keep-alive connection was held for 10 s with a 1 s idle timeout")
	}
	t.Logf("idle connection closed by the server after %v", time.Since(start).Round(10*time.Millisecond))
}

// TestDescriptorReserveAnswers: with the real descriptor count of this
// process and a limit just above it, connections are admitted until the
// reserve would be touched, then answered 503 descriptors_reserved (the
// held ones being busy, none can be evicted).
func TestDescriptorReserveAnswers(t *testing.T) {
	open, err := fdlimit.CountOpen()
	if err != nil {
		t.Fatal(err)
	}
	// Each connection costs two descriptors here: the client's and the
	// server's end.
	s := listening(t, WithFDGate(fdlimit.NewReserve(open+100, 60, nil)))
	admitted := 0
	for i := 0; i < 40; i++ {
		c := dialFrom(t, s, "127.0.0.1")
		if _, err := io.WriteString(c, "POST /v1/recording/start HTTP/1.1\r\nHost: ars\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil { // no answer yet: admitted, its body awaited
			admitted++
			time.Sleep(120 * time.Millisecond) // past the count interval
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "descriptors_reserved") {
			t.Fatalf("connection %d: %d %s", i, resp.StatusCode, b)
		}
		t.Logf("admitted %d busy connections, then descriptors_reserved", admitted)
		if admitted < 10 || admitted > 25 {
			t.Errorf("admitted %d connections with 40 descriptors to spare for 2 each", admitted)
		}
		return
	}
	t.Fatalf("40 connections admitted with 40 descriptors above the reserve")
}
