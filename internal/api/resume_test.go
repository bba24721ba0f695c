package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/freeport"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
)

// resumeRig is one daemon's worth of sessions, RTP engine and API over a
// shared state store and root, with a clock the test moves.
type resumeRig struct {
	s   *Server
	mgr *session.Manager
	e   *rtpingest.Engine
	m   *metrics.Metrics
}

func newResumeRig(t *testing.T, root string, st state.Backend, port int, now time.Time) *resumeRig {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: root}, session.WithMetrics(m), session.WithLogger(quiet), session.WithState(st))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	v, err := rdk.NewVerifier(testAppID, testAppCert, rdk.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	e := rtpingest.New("127.0.0.1", port, port, rtpingest.WithMetrics(m), rtpingest.WithLogger(quiet))
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	return &resumeRig{s: New(mgr, v, e, m, WithLogger(quiet), WithState(st)), mgr: mgr, e: e, m: m}
}

func (r *resumeRig) close() {
	r.e.Close()
	_ = r.mgr.Close(context.Background())
}

func TestJoinsResume(t *testing.T) {
	root, st := t.TempDir(), state.NewMemory()
	now := time.Now()
	port, _, err := freeport.UDPRange(1)
	if err != nil {
		t.Fatal(err)
	}
	first := newResumeRig(t, root, st, port, now)
	f := &rtpFixture{t: t, h: first.s.Handler(), m: first.m, mgr: first.mgr, now: now}
	key := func(uid uint32, expire uint32) string {
		k, err := rdk.BuildKey4(rdk.Service4Media, rdk.DynamicKeyParams{AppID: testAppID, AppCertificate: testAppCert,
			Channel: "c", UID: uid, UnixTs: uint32(now.Unix()), Salt: 1, ExpiredTs: expire})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	var ids []string
	for _, uid := range []uint32{1, 2, 3, 4} {
		expire := uint32(0)
		if uid == 4 { // its key ends before the next daemon starts
			expire = uint32(now.Add(10 * time.Second).Unix())
		}
		b, _ := json.Marshal(map[string]any{"channel": "c", "uid": uid, "key": key(uid, expire),
			"streams": []map[string]any{{"ssrc": 0x10 + uid, "payloadType": 96, "codec": "H264"}}})
		r := httptest.NewRequest(http.MethodPost, "/v1/rtp/join", strings.NewReader(string(b)))
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		if w.Code != http.StatusCreated {
			t.Fatalf("join %d: %d %v", uid, w.Code, out)
		}
		ids = append(ids, out["id"].(string))
	}
	all, _ := st.All(joinsBucket)
	if len(all) != 4 {
		t.Fatalf("joins kept: %d, want 4", len(all))
	}
	// uid 3 leaves by request: forgotten. The others stay over a shutdown.
	first.mgr.Participant(ids[2]).Leave()
	first.close()
	if all, _ := st.All(joinsBucket); len(all) != 3 {
		t.Fatalf("joins kept after a leave and a shutdown: %d, want 3", len(all))
	}

	// The next daemon, 20 seconds later, on the same port.
	second := newResumeRig(t, root, st, port, now.Add(20*time.Second))
	defer second.close()
	if err := second.s.ResumeJoins(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:2] {
		p := second.mgr.Participant(id)
		if p == nil || p.Channel() != "c" || p.Source() != "rtp" || len(p.Streams()) != 1 {
			t.Fatalf("join %s not resumed: %+v", id, p)
		}
	}
	if second.mgr.Participant(ids[2]) != nil {
		t.Fatal("a participant that had left came back")
	}
	if second.mgr.Participant(ids[3]) != nil {
		t.Fatal("a join whose key expired came back")
	}
	if n, x := testutil.ToFloat64(second.m.JoinsResumed.WithLabelValues("resumed")), testutil.ToFloat64(second.m.JoinsResumed.WithLabelValues("expired")); n != 2 || x != 1 {
		t.Fatalf("ars_state_joins_resumed_total resumed=%v expired=%v, want 2 and 1", n, x)
	}
	if all, _ := st.All(joinsBucket); len(all) != 2 {
		t.Fatalf("joins kept after the resume: %d, want 2 (the expired one forgotten)", len(all))
	}
}
