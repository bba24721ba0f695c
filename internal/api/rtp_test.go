package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

// rtpFixture is a server with a real RTP engine on one loopback port.
type rtpFixture struct {
	t    *testing.T
	h    http.Handler
	m    *metrics.Metrics
	mgr  *session.Manager
	port int
	now  time.Time
}

func newRTPFixture(t *testing.T, opts ...session.Option) *rtpFixture {
	t.Helper()
	m := metrics.New()
	quiet := slog.New(slog.DiscardHandler)
	mgr := session.New(storage.Layout{Root: t.TempDir()}, append([]session.Option{session.WithMetrics(m), session.WithLogger(quiet)}, opts...)...)
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v, err := rdk.NewVerifier(testAppID, testAppCert, rdk.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	e := rtpingest.New("127.0.0.1", 0, 0, rtpingest.WithMetrics(m), rtpingest.WithLogger(quiet))
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		_ = mgr.Close(context.Background())
	})
	s := New(mgr, v, e, m, WithLogger(quiet), WithNodeAddress("198.51.100.4"))
	port := 0
	for _, p := range e.Ports() {
		port = p
	}
	// Port 0 asked the kernel: find the one it chose from a join later.
	return &rtpFixture{t: t, h: s.Handler(), m: m, mgr: mgr, port: port, now: now}
}

// join posts a join for uid in channel from remote with the given source.
func (f *rtpFixture) join(remote, channel string, uid uint32, ssrc uint32, source string) (int, http.Header, map[string]any) {
	f.t.Helper()
	key, err := rdk.BuildKey4(rdk.Service4Media, rdk.DynamicKeyParams{AppID: testAppID, AppCertificate: testAppCert,
		Channel: channel, UID: uid, UnixTs: uint32(f.now.Unix()), Salt: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	req := map[string]any{"channel": channel, "uid": uid, "key": key,
		"streams": []map[string]any{{"ssrc": ssrc, "payloadType": 96, "codec": "H264"}}}
	if source != "" {
		req["source"] = source
	}
	b, _ := json.Marshal(req)
	r := httptest.NewRequest(http.MethodPost, "/v1/rtp/join", strings.NewReader(string(b)))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, w.Header(), out
}

// By default a join from a non-loopback address binds the streams to it:
// a first sender from elsewhere (here the loopback) does not take them.
func TestJoinBindsToCallerByDefault(t *testing.T) {
	f := newRTPFixture(t)
	code, _, out := f.join("203.0.113.7:40000", "bound", 5, 0x55, "")
	if code != http.StatusCreated || out["source"] != "203.0.113.7" {
		t.Fatalf("join: %d %v", code, out)
	}
	// The node's address is answered on every node, single ones too.
	if out["rtpHost"] != "198.51.100.4" {
		t.Fatalf("rtpHost %v, want ARS_NODE_ADDRESS", out["rtpHost"])
	}
	if _, _, err := f.mgr.StartRecording("bound", 5, ""); err != nil {
		t.Fatal(err)
	}
	port := int(out["rtpPort"].(float64))
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pkt := []byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x55, 0x41, 0x9a}
	for i := 0; i < 5; i++ {
		_, _ = conn.Write(pkt)
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(f.m.DropWrongSource) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(f.m.DropWrongSource); got != 5 || testutil.ToFloat64(f.m.PacketsWritten) != 0 {
		t.Fatalf("wrong_source %v written %v received %v unknown %v: a stranger took a stream bound to the caller", got, testutil.ToFloat64(f.m.PacketsWritten), testutil.ToFloat64(f.m.PacketsReceived), testutil.ToFloat64(f.m.DropUnknownSSRC))
	}
	// A loopback caller's streams take their first sender; "any" asks so
	// from anywhere.
	for i, tc := range []struct{ remote, source string }{{"127.0.0.1:4000", ""}, {"203.0.113.7:4000", "any"}} {
		code, _, out := f.join(tc.remote, "free"+tc.source, 6, uint32(0x66+i), tc.source)
		if code != http.StatusCreated || out["source"] != nil {
			t.Fatalf("join from %s source %q: %d %v", tc.remote, tc.source, code, out)
		}
	}
	code, _, out = f.join("127.0.0.1:4000", "named", 7, 0x77, "127.0.0.2")
	if code != http.StatusCreated || out["source"] != "127.0.0.2" {
		t.Fatalf("named source: %d %v", code, out)
	}
	for _, bad := range []string{"nobody", "0.0.0.0", "224.0.0.1", "fe80::1%eth0", "::"} {
		if code, _, out := f.join("127.0.0.1:4000", "bad", 8, 0x88, bad); code != http.StatusBadRequest || errorCode(out) != "invalid_source" {
			t.Errorf("source %q: %d %v", bad, code, out)
		}
	}
}

// Joins past each cap get their error; a leave gives the capacity back.
func TestJoinCapErrors(t *testing.T) {
	f := newRTPFixture(t, session.WithMaxJoinsPerClient(1), session.WithMaxTotalParticipants(2), session.WithMaxChannels(2))
	if code, _, out := f.join("203.0.113.1:1", "c1", 1, 1, ""); code != http.StatusCreated {
		t.Fatalf("first join: %d %v", code, out)
	}
	code, hdr, out := f.join("203.0.113.1:2", "c2", 1, 2, "")
	if code != http.StatusTooManyRequests || errorCode(out) != "too_many_joins" || hdr.Get("Retry-After") == "" {
		t.Fatalf("second join from one address: %d %v %v", code, out, hdr)
	}
	if code, _, out := f.join("203.0.113.2:1", "c2", 1, 2, ""); code != http.StatusCreated {
		t.Fatalf("join from another address: %d %v", code, out)
	}
	if code, _, out := f.join("203.0.113.3:1", "c1", 2, 3, ""); code != http.StatusServiceUnavailable || errorCode(out) != "server_full" {
		t.Fatalf("third participant: %d %v", code, out)
	}
	if _, _, err := f.mgr.StartRecording("c3", 1, ""); err == nil {
		t.Fatal("a third channel was made")
	}
	p := f.mgr.Status("c1").Users[0]
	f.mgr.Participant(p.ID).Leave()
	if code, _, out := f.join("203.0.113.1:3", "c3", 1, 4, ""); code != http.StatusCreated {
		t.Fatalf("join after a leave: %d %v", code, out)
	}
	if code, _, out := f.join("203.0.113.4:1", "c4", 1, 5, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("join past a full server: %d %v", code, out)
	}
	for _, r := range []string{metrics.RefusedPerIP, metrics.RefusedParticipants} {
		if testutil.ToFloat64(f.m.JoinsRefused.WithLabelValues(r)) < 1 {
			t.Errorf("refusal %s not counted", r)
		}
	}
}
