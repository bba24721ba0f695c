package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

const (
	testAppID   = "970ca35de60c44645bbae8a215061b33"
	testAppCert = "5cfd2fd1755d40ecb72977518be15d3b"
)

func key(t *testing.T, svc rdk.Service4, channel string, uid uint32) string {
	t.Helper()
	k, err := rdk.BuildKey4(svc, rdk.DynamicKeyParams{AppID: testAppID, AppCertificate: testAppCert, Channel: channel, UID: uid, UnixTs: uint32(time.Now().Unix())})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	t    *testing.T
	root string
	srv  *httptest.Server
	c    *Console
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	root := t.TempDir()
	mgr := session.New(storage.Layout{Root: root}, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	v, err := rdk.NewVerifier(testAppID, testAppCert)
	if err != nil {
		t.Fatal(err)
	}
	c := New(mgr, v, root, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		_ = mgr.Close(context.Background())
	})
	return &fixture{t: t, root: root, srv: srv, c: c}
}

func (f *fixture) do(method, path, body string, header ...string) (int, http.Header, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// recording makes root/day/name/ with Metadata.txt naming channel.
func (f *fixture) recording(day, name, channel string, files ...string) string {
	f.t.Helper()
	dir := filepath.Join(f.root, day, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		f.t.Fatal(err)
	}
	if err := storage.WriteMetadata(dir, storage.Metadata{ChannelName: channel, Tag: "t"}); err != nil {
		f.t.Fatal(err)
	}
	for _, name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("content of "+name), 0o640); err != nil {
			f.t.Fatal(err)
		}
	}
	return dir
}

func errCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not a JSON error: %s", body)
	}
	return e.Error.Code
}

func TestSignedPaths(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := signer{key: []byte("k"), ttl: time.Hour, now: func() time.Time { return now }}
	query := func(u string) url.Values {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Path != fileRoute {
			t.Fatalf("url %q", u)
		}
		return parsed.Query()
	}
	good := "2026_01_02/room_120000/7_120001.mp4"
	if rel, err := s.verify(query(s.url(good))); err != nil || rel != good {
		t.Fatalf("valid URL: %q %v", rel, err)
	}
	tampered := query(s.url(good))
	tampered.Set("path", "2026_01_02/room_120000/8_120001.mp4")
	later := query(s.url(good))
	later.Set("exp", "9999999999")
	cases := []struct {
		name string
		q    url.Values
		want error
	}{
		{"other file", tampered, ErrBadSignature},
		{"extended expiry", later, ErrBadSignature},
		{"no signature", url.Values{"path": {good}, "exp": {"1900000000"}}, ErrBadSignature},
		{"empty", url.Values{}, ErrBadSignature},
	}
	// Paths this daemon would never sign are refused even when signed.
	for _, bad := range []string{
		"2026_01_02/../../../etc/passwd", "/etc/passwd", "2026_01_02/room_120000/../7_120001.mp4",
		"2026_01_02/room_120000/7_120001.tmp", "2026_01_02/room_120000/Metadata.txt", "2026_01_02/./7_120001.mp4",
		"2026_01_02/room_120000/7_120001.mp4/x", `2026_01_02\room_120000\7_120001.mp4`, "2026_01_02/.../7_120001.mp4",
		"2026_01_02/room\x00/7_120001.mp4", "2026_01_02//7_120001.mp4",
	} {
		cases = append(cases, struct {
			name string
			q    url.Values
			want error
		}{"signed " + bad, query(s.url(bad)), ErrBadPath})
	}
	for _, tc := range cases {
		if _, err := s.verify(tc.q); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	expired := query(s.url(good))
	now = now.Add(time.Hour)
	if _, err := s.verify(expired); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("expired URL: %v", err)
	}
}

func TestListAndServeRecordings(t *testing.T) {
	f := newFixture(t)
	dir := f.recording("2026_01_02", "room_120000", "room", "7_120001.mp4", "7_120001.tmp", "8_120002.tmp", "notes.txt")
	f.recording("2026_01_02", "room_120000_2", "room", "9_120003.mp4")
	// Channel "room_120000" recorded at 13:00:00: its directory starts
	// with "room_" too, and must not be listed as channel "room".
	f.recording("2026_01_02", "room_120000_130000", "room_120000", "5_130001.mp4")
	// A link out of the root must be neither listed nor served.
	secret := filepath.Join(t.TempDir(), "secret.mp4")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "6_120001.mp4")); err != nil {
		t.Fatal(err)
	}

	body := func(channel, k string) string {
		b, _ := json.Marshal(map[string]any{"channel": channel, "uid": 1, "key": k})
		return string(b)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"no key", body("room", ""), 401, "missing_key"},
		{"bad key", body("room", "garbage"), 401, "invalid_key"},
		{"key of another channel", body("room", key(t, rdk.Service4Recording, "other", 1)), 401, "invalid_key"},
		{"media key", body("room", key(t, rdk.Service4Media, "room", 1)), 403, "wrong_service"},
		{"bad channel", body("../x", "k"), 400, "invalid_channel"},
		{"not json", "{", 400, "bad_request"},
	} {
		status, _, raw := f.do("POST", "/v1/recordings", tc.body)
		if status != tc.status || errCode(t, raw) != tc.code {
			t.Errorf("%s: %d %s", tc.name, status, raw)
		}
	}

	status, _, raw := f.do("POST", "/v1/recordings", body("room", key(t, rdk.Service4Recording, "room", 1)))
	if status != 200 {
		t.Fatalf("list: %d %s", status, raw)
	}
	var list listResponse
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Recordings) != 2 || list.Recordings[0].Directory != "2026_01_02/room_120000_2" || list.Recordings[1].Directory != "2026_01_02/room_120000" {
		t.Fatalf("recordings %+v", list.Recordings)
	}
	rec := list.Recordings[1]
	if want := time.Date(2026, 1, 2, 12, 0, 0, 0, time.Local); !rec.StartedAt.Equal(want) || rec.Tag != "t" {
		t.Fatalf("recording %+v", rec)
	}
	var names []string
	var mp4URL string
	for _, file := range rec.Files {
		names = append(names, file.Name+":"+file.Kind)
		if file.Kind == "mp4" {
			mp4URL = file.URL
		} else if file.URL != "" {
			t.Errorf("capture %s has a URL", file.Name)
		}
	}
	if strings.Join(names, ",") != "7_120001.mp4:mp4,7_120001.tmp:capture,8_120002.tmp:capture" {
		t.Fatalf("files %v", names)
	}

	status, hdr, raw := f.do("GET", mp4URL, "")
	if status != 200 || string(raw) != "content of 7_120001.mp4" || hdr.Get("Content-Type") != "video/mp4" {
		t.Fatalf("file: %d %q %v", status, raw, hdr)
	}
	status, _, raw = f.do("GET", mp4URL, "", "Range", "bytes=0-6")
	if status != http.StatusPartialContent || string(raw) != "content" {
		t.Fatalf("range: %d %q", status, raw)
	}
	// A correctly signed URL of the link still cannot leave the root.
	status, _, raw = f.do("GET", f.c.sign.url("2026_01_02/room_120000/6_120001.mp4"), "")
	if status != http.StatusNotFound || strings.Contains(string(raw), "secret") {
		t.Fatalf("symlink out of root: %d %q", status, raw)
	}
	status, _, raw = f.do("GET", strings.Replace(mp4URL, "sig=", "sig=x", 1), "")
	if status != http.StatusForbidden || errCode(t, raw) != "bad_signature" {
		t.Fatalf("bad signature: %d %s", status, raw)
	}
}

func TestDevKeys(t *testing.T) {
	prod := newFixture(t)
	status, _, raw := prod.do("POST", "/v1/dev/keys", `{"channel":"room","uid":3}`)
	if status != http.StatusNotFound || errCode(t, raw) != "dev_mode_only" {
		t.Fatalf("production: %d %s", status, raw)
	}
	dev := newFixture(t, WithDevMode(DevCredentials{AppID: testAppID, AppCertificate: testAppCert}))
	status, _, raw = dev.do("POST", "/v1/dev/keys", `{"channel":"room","uid":"3"}`)
	if status != 200 {
		t.Fatalf("dev: %d %s", status, raw)
	}
	var keys devKeysResponse
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	v, _ := rdk.NewVerifier(testAppID, testAppCert)
	if err := v.VerifyRecording(keys.RecordingKey, "room", 3); err != nil {
		t.Fatalf("minted recording key: %v", err)
	}
	if err := v.VerifyMedia(keys.MediaKey, "room", 3); err != nil {
		t.Fatalf("minted media key: %v", err)
	}
	for _, bad := range []string{`{"channel":"..","uid":3}`, `{"channel":"room","uid":0}`, `{"channel":"room"}`, `{"channel":"room","uid":1,"admin":true}`} {
		if status, _, raw := dev.do("POST", "/v1/dev/keys", bad); status != 400 {
			t.Errorf("%s: %d %s", bad, status, raw)
		}
	}
}

func TestPageAndScripts(t *testing.T) {
	f := newFixture(t, WithWebRTC(true))
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `id="publish"`},
		{"/console/console.js", "javascript", "ARS.publish"},
		{"/console/console.css", "text/css", "#preview"},
		{"/ars-publish.js", "javascript", "async function publish(channel, uid, key, stream, options)"},
		{"/v1/console/config", "application/json", `"webrtc":true`},
	} {
		status, hdr, raw := f.do("GET", tc.path, "")
		if status != 200 || !strings.Contains(hdr.Get("Content-Type"), tc.ctype) || !strings.Contains(string(raw), tc.contains) {
			t.Errorf("%s: %d %s %.80q", tc.path, status, hdr.Get("Content-Type"), raw)
		}
	}
	_, hdr, _ := f.do("GET", "/", "")
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("page CSP %q", hdr.Get("Content-Security-Policy"))
	}
	if status, _, _ := f.do("GET", "/console/../../etc/passwd", ""); status == 200 {
		t.Error("asset path escaped")
	}
}

// TestChannelListNeedsOperatorToken: the channel list is open in
// development mode; in production it answers 403 until an operator token
// is configured, then only to that token, and guessing it is rate limited
// like keys (with a 429 that does not call the token invalid).
func TestChannelListNeedsOperatorToken(t *testing.T) {
	const token = "s3cret-operator-token"
	dev := newFixture(t, WithDevMode(DevCredentials{AppID: testAppID, AppCertificate: testAppCert}))
	if status, _, raw := dev.do("GET", "/v1/channels", ""); status != 200 || !strings.Contains(string(raw), `"channels":[]`) {
		t.Errorf("development mode: %d %s", status, raw)
	}
	unset := newFixture(t)
	status, _, raw := unset.do("GET", "/v1/channels", "", "Authorization", "Bearer "+token)
	if status != 403 || !strings.Contains(string(raw), "admin_token_not_configured") || !strings.Contains(string(raw), "ARS_ADMIN_TOKEN") {
		t.Errorf("production without a token configured: %d %s", status, raw)
	}
	if _, _, raw := unset.do("GET", "/v1/console/config", ""); !strings.Contains(string(raw), `"channelsNeedToken":true`) {
		t.Errorf("config does not tell the page to ask for the token: %s", raw)
	}
	prod := newFixture(t, WithAdminToken(token))
	for _, tc := range []struct {
		header []string
		status int
		code   string
	}{
		{nil, 401, "admin_token_required"},
		{[]string{"Authorization", "Basic " + token}, 401, "admin_token_required"},
		{[]string{"Authorization", "Bearer not-the-token"}, 401, "invalid_admin_token"},
		{[]string{"Authorization", "Bearer " + token}, 200, ""},
	} {
		status, hdr, raw := prod.do("GET", "/v1/channels", "", tc.header...)
		if status != tc.status || !strings.Contains(string(raw), tc.code) {
			t.Errorf("%v: %d %s, want %d %s", tc.header, status, raw, tc.status, tc.code)
		}
		if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%v: 401 without WWW-Authenticate: Bearer", tc.header)
		}
	}
	var limited []byte
	for i := 0; i < 100 && limited == nil; i++ {
		if status, _, raw := prod.do("GET", "/v1/channels", "", "Authorization", "Bearer guess"); status == 429 {
			limited = raw
		}
	}
	if limited == nil || !strings.Contains(string(limited), "too_many_failures") || strings.Contains(strings.ToLower(string(limited)), "invalid") {
		t.Errorf("guessing the token: %s", limited)
	}
}

// FuzzVerifyURL feeds arbitrary file-URL queries to the signature check:
// it must never panic, and whatever it grants is a path it would sign.
func FuzzVerifyURL(f *testing.F) {
	s := signer{key: []byte("fuzz"), ttl: time.Hour, now: time.Now}
	good, _ := url.Parse(s.url("2026_01_02/room_120000/7_120001.mp4"))
	f.Add(good.RawQuery)
	f.Add("path=..%2F..%2Fetc%2Fpasswd&exp=9999999999&sig=AAAA")
	f.Add("path=&exp=-1&sig=")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		rel, err := s.verify(q)
		if err != nil {
			return
		}
		if checkRel(rel) != nil || filepath.IsAbs(rel) {
			t.Fatalf("granted %q", rel)
		}
	})
}
