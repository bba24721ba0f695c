package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

const (
	testAppID   = "970ca35de60c44645bbae8a215061b33"
	testAppCert = "5cfd2fd1755d40ecb72977518be15d3b"
	otherAppID  = "0123456789abcdef0123456789abcdef"
	otherCert   = "fedcba9876543210fedcba9876543210"
)

type fixture struct {
	t    *testing.T
	srv  *httptest.Server
	root string
	mgr  *session.Manager
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: root}, session.WithMetrics(m))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v, err := rdk.NewVerifier(testAppID, testAppCert, rdk.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	rtp := rtpingest.New("127.0.0.1", 0, -1, rtpingest.WithMetrics(m)) // no ports: joins are refused
	s := New(mgr, v, rtp, m)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = mgr.Close(context.Background())
	})
	return &fixture{t: t, srv: hs, root: root, mgr: mgr, now: now}
}

func (f *fixture) do(method, path, body string) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("%s %s: non-JSON answer %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func recordingKey(t *testing.T, p rdk.DynamicKeyParams, format string) string {
	t.Helper()
	var k string
	var err error
	if format == "005" {
		k, err = rdk.BuildKey5(rdk.Service5Recording, p, nil)
	} else {
		k, err = rdk.BuildKey4(rdk.Service4Recording, p)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func body(channel string, uid any, key string) string {
	b, _ := json.Marshal(map[string]any{"channel": channel, "uid": uid, "key": key})
	return string(b)
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestKeyErrors(t *testing.T) {
	f := newFixture(t)
	ts := uint32(f.now.Unix())
	good := rdk.DynamicKeyParams{AppID: testAppID, AppCertificate: testAppCert, Channel: "room", UID: 42, UnixTs: ts, Salt: 7}
	with := func(mod func(*rdk.DynamicKeyParams)) rdk.DynamicKeyParams {
		p := good
		mod(&p)
		return p
	}
	tampered := recordingKey(t, good, "004")
	tampered = tampered[:10] + flipHex(tampered[10]) + tampered[11:]
	mediaKey, err := rdk.BuildKey4(rdk.Service4Media, good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		key    string
		uid    any
		status int
		code   string
	}{
		{"valid 004", recordingKey(t, good, "004"), 42, 200, ""},
		{"valid 005, uid as string", recordingKey(t, good, "005"), "42", 200, ""},
		{"tampered", tampered, 42, 401, "invalid_key"},
		{"garbage", "not a key", 42, 401, "invalid_key"},
		{"missing", "", 42, 401, "missing_key"},
		{"expired timestamp", recordingKey(t, with(func(p *rdk.DynamicKeyParams) { p.UnixTs = ts - 3600 }), "004"), 42, 401, "key_expired"},
		{"past expiredTs", recordingKey(t, with(func(p *rdk.DynamicKeyParams) { p.ExpiredTs = ts - 10 }), "005"), 42, 401, "key_expired"},
		{"wrong channel", recordingKey(t, with(func(p *rdk.DynamicKeyParams) { p.Channel = "other" }), "004"), 42, 401, "invalid_key"},
		{"wrong uid", recordingKey(t, good, "004"), 43, 401, "invalid_key"},
		{"wrong app", recordingKey(t, with(func(p *rdk.DynamicKeyParams) { p.AppID, p.AppCertificate = otherAppID, otherCert }), "004"), 42, 403, "wrong_app"},
		{"media key for recording", mediaKey, 42, 403, "wrong_service"},
		{"uid zero", recordingKey(t, good, "004"), 0, 400, "invalid_uid"},
		{"uid too large", recordingKey(t, good, "004"), 4294967296, 400, "invalid_uid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := f.do("POST", "/v1/recording/start", body("room", tc.uid, tc.key))
			if status != tc.status || errorCode(out) != tc.code {
				t.Fatalf("got %d %v, want %d %q", status, out, tc.status, tc.code)
			}
			if status == 200 {
				f.do("POST", "/v1/recording/stop", body("room", tc.uid, tc.key))
			}
		})
	}
}

func flipHex(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestStartStopStatus(t *testing.T) {
	f := newFixture(t)
	p := rdk.DynamicKeyParams{AppID: testAppID, AppCertificate: testAppCert, Channel: "demo", UID: 1, UnixTs: uint32(f.now.Unix())}
	key := recordingKey(t, p, "004")

	status, out := f.do("GET", "/v1/recording/status?channel=demo", "")
	if status != 200 || out["recording"] != false {
		t.Fatalf("idle status: %d %v", status, out)
	}
	b, _ := json.Marshal(map[string]any{"channel": "demo", "uid": 1, "key": key, "tag": "t1"})
	status, out = f.do("POST", "/v1/recording/start", string(b))
	if status != 200 || out["started"] != true || out["recording"] != true {
		t.Fatalf("start: %d %v", status, out)
	}
	dir, _ := out["directory"].(string)
	if !strings.HasPrefix(dir, f.root) {
		t.Fatalf("directory %q outside root %q", dir, f.root)
	}
	if _, err := os.Stat(filepath.Join(dir, "Metadata.txt")); err != nil {
		t.Fatal(err)
	}
	status, out = f.do("POST", "/v1/recording/start", string(b))
	if status != 200 || out["started"] != false || out["directory"] != dir {
		t.Fatalf("second start: %d %v", status, out)
	}
	status, out = f.do("GET", "/v1/recording/status?channel=demo", "")
	if status != 200 || out["recording"] != true || out["directory"] != dir || out["tag"] != "t1" {
		t.Fatalf("status: %d %v", status, out)
	}
	status, out = f.do("POST", "/v1/recording/stop", body("demo", 1, key))
	if status != 200 || out["stopped"] != true {
		t.Fatalf("stop: %d %v", status, out)
	}
	status, out = f.do("POST", "/v1/recording/stop", body("demo", 1, key))
	if status != 200 || out["stopped"] != false {
		t.Fatalf("second stop: %d %v", status, out)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	huge := `{"channel":"a","uid":1,"key":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/v1/recording/start", `{"channel":`, 400, "bad_request"},
		{"not an object", "POST", "/v1/recording/start", `[1,2]`, 400, "bad_request"},
		{"trailing data", "POST", "/v1/recording/start", `{"channel":"a","uid":1,"key":"k"} {}`, 400, "bad_request"},
		{"unknown field", "POST", "/v1/recording/start", `{"channel":"a","uid":1,"key":"k","admin":true}`, 400, "unknown_field"},
		{"oversized body", "POST", "/v1/recording/start", huge, 413, "body_too_large"},
		{"traversal", "POST", "/v1/recording/start", body("../etc", 1, "k"), 400, "invalid_channel"},
		{"slash", "POST", "/v1/recording/start", body("a/b", 1, "k"), 400, "invalid_channel"},
		{"nul", "POST", "/v1/recording/start", body("a\x00b", 1, "k"), 400, "invalid_channel"},
		{"dotdot", "POST", "/v1/recording/stop", body("..", 1, "k"), 400, "invalid_channel"},
		{"too long", "POST", "/v1/recording/start", body(strings.Repeat("a", 65), 1, "k"), 400, "invalid_channel"},
		{"uid fraction", "POST", "/v1/recording/start", body("a", 1.5, "k"), 400, "invalid_uid"},
		{"uid negative string", "POST", "/v1/recording/start", body("a", "-1", "k"), 400, "invalid_uid"},
		{"uid missing", "POST", "/v1/recording/start", `{"channel":"a","key":"k"}`, 400, "invalid_uid"},
		{"status bad channel", "GET", "/v1/recording/status?channel=..", "", 400, "invalid_channel"},
		{"status no channel", "GET", "/v1/recording/status", "", 400, "invalid_channel"},
		{"join no streams", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[]}`, 400, "invalid_streams"},
		{"join h265", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"H265","clockRate":90000}]}`, 400, "invalid_streams"},
		{"join vp8 bad clock", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"VP8","clockRate":48000}]}`, 400, "invalid_streams"},
		{"join extension id 0", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"VP9","extensions":[{"id":0,"uri":"urn:3gpp:video-orientation"}]}]}`, 400, "invalid_streams"},
		{"join extension twice", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"AV1","extensions":[{"id":3,"uri":"a"},{"id":3,"uri":"b"}]}]}`, 400, "invalid_streams"},
		{"join extension no uri", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"AV1","extensions":[{"id":3}]}]}`, 400, "invalid_streams"},
		{"join vp8 bad key", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"VP8","clockRate":90000,"extensions":[{"id":3,"uri":"urn:3gpp:video-orientation"}]}]}`, 401, "invalid_key"},
		{"join bad key", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"H264"}]}`, 401, "invalid_key"},
		{"leave unknown", "DELETE", "/v1/rtp/0123456789abcdef", "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := f.do(tc.method, tc.path, tc.body)
			if status != tc.status || errorCode(out) != tc.code {
				t.Fatalf("got %d %v, want %d %q", status, out, tc.status, tc.code)
			}
		})
	}
	entries, _ := os.ReadDir(f.root)
	if len(entries) != 0 {
		t.Fatalf("bad requests wrote to the recording root: %v", entries)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"ars_packets_received_total", "ars_packets_dropped_total", "ars_active_channels", "ars_active_participants", "ars_open_capture_files", "ars_write_errors_total"} {
		if !bytes.Contains(raw, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	status, out := f.do("GET", "/healthz", "")
	if status != 200 || out["status"] != "ok" {
		t.Fatalf("healthz: %d %v", status, out)
	}
}

func TestFailedKeyChecksAreRateLimited(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		if status, out := f.do("POST", "/v1/recording/start", body("room", 1, "004bogus")); status != 401 {
			t.Fatalf("failure %d: %d %v", i, status, out)
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/recording/start", strings.NewReader(body("room", 1, "004bogus")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Requests that need no key are not limited.
	if status, _ := f.do("GET", "/v1/recording/status?channel=room", ""); status != 200 {
		t.Fatalf("status while limited: %d", status)
	}
}

func TestKeyGuardRefills(t *testing.T) {
	g := newKeyGuard()
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	for i := 0; i < g.burst; i++ {
		g.failed("a")
	}
	if blocked, _ := g.blocked("a"); !blocked {
		t.Fatal("not blocked after the burst")
	}
	if blocked, _ := g.blocked("b"); blocked {
		t.Fatal("another address blocked")
	}
	now = now.Add(g.every)
	if blocked, _ := g.blocked("a"); blocked {
		t.Fatal("still blocked after a refill")
	}
}
