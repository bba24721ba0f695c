package cloudrec

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

const (
	testApp  = "0123456789abcdef0123456789abcdef"
	testCert = "fedcba9876543210fedcba9876543210"
	testUser = "cust"
	testPass = "secret"
)

// apiRig is the cloud recording API over a real session manager,
// uploader (to local disk), key verifier and credential gate, served by
// httptest.
type apiRig struct {
	t   *testing.T
	svc *Service
	srv *httptest.Server
	ev  *events
	m   *metrics.Metrics
	mgr *session.Manager
}

func newAPIRig(t *testing.T, cfg Config) *apiRig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	mgr := session.New(storage.Layout{Root: t.TempDir()}, session.WithLogger(log))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close(context.Background()) })
	keys, err := rdk.NewVerifier(testApp, testCert)
	if err != nil {
		t.Fatal(err)
	}
	r := &apiRig{t: t, ev: &events{}, m: metrics.New(), mgr: mgr}
	var svc *Service
	up := objstore.NewUploader(t.TempDir(), objstore.WithLogger(log),
		objstore.WithResults(func(res objstore.Result) { svc.UploadResult(res) }))
	cfg.AppID, cfg.CustomerID, cfg.CustomerSecret = testApp, testUser, testPass
	cfg.WorkDir, cfg.LocalDir = t.TempDir(), t.TempDir()
	svc = New(cfg, mgr, keys, keyGate{api.NewKeyGate(r.m, log)}, up, WithLogger(log), WithNotifier(r.ev), WithMetrics(r.m))
	r.svc = svc
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close(context.Background()) })
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	mux := http.NewServeMux()
	svc.Mount(func(p string, h http.Handler) { mux.Handle(p, h) })
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// keyGate is the API's real credential gate under the name the service
// calls (api.Server.CheckKey runs the same KeyGate).
type keyGate struct{ g *api.KeyGate }

func (k keyGate) CheckKey(r *http.Request, check func() error) *api.Error { return k.g.Check(r, check) }

// answer is one HTTP answer: status, headers and the body as JSON values.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends method path (under /v1/apps/{app}/cloud_recording unless it
// starts with /v1) with body as JSON and the rig's credentials
// (auth false: none).
func (r *apiRig) call(method, path string, body any, auth bool) answer {
	r.t.Helper()
	if !strings.HasPrefix(path, "/v1") {
		path = "/v1/apps/" + testApp + "/cloud_recording" + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(testUser, testPass)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		r.t.Errorf("%s %s: answer %q is not a JSON object: %v", method, path, raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
		r.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if id := resp.Header.Get("X-Request-Id"); len(id) != 32 {
		r.t.Errorf("%s %s: X-Request-Id %q", method, path, id)
	}
	return a
}

// want checks an answer's status and the fields of its body.
func (a answer) want(t *testing.T, what string, status int, fields map[string]any) {
	t.Helper()
	if a.status != status {
		t.Errorf("%s: HTTP %d, want %d (%s)", what, a.status, status, a.raw)
	}
	for k, v := range fields {
		got := a.body[k]
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		if got != v {
			t.Errorf("%s: %s = %v, want %v (%s)", what, k, got, v, a.raw)
		}
	}
}

func (r *apiRig) token(cname string, uid uint32) string {
	r.t.Helper()
	now := uint32(time.Now().Unix())
	tok, err := rdk.BuildToken7(rdk.TokenParams{AppID: testApp, AppCertificate: testCert, Channel: cname, UID: uid,
		IssueTs: now, Salt: 1, Expire: 3600, Privileges: rdk.PublisherPrivileges(3600)})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

func (r *apiRig) acquire(cname, uid string) string {
	r.t.Helper()
	a := r.call("POST", "/acquire", map[string]any{"cname": cname, "uid": uid, "clientRequest": map[string]any{}}, true)
	rid, _ := a.body["resourceId"].(string)
	if a.status != 200 || rid == "" {
		r.t.Fatalf("acquire: %d %s", a.status, a.raw)
	}
	return rid
}

func (r *apiRig) startBody(cname, uid string, uidNum uint32) map[string]any {
	return map[string]any{"cname": cname, "uid": uid, "clientRequest": map[string]any{
		"token":           r.token(cname, uidNum),
		"recordingConfig": map[string]any{"channelType": 0, "streamTypes": 2, "maxIdleTime": 30},
		"storageConfig":   map[string]any{"vendor": vendorLocal, "region": 0, "bucket": "bucket"}}}
}

func (r *apiRig) start(rid, cname, uid string, uidNum uint32) string {
	r.t.Helper()
	a := r.call("POST", "/resourceid/"+rid+"/mode/individual/start", r.startBody(cname, uid, uidNum), true)
	sid, _ := a.body["sid"].(string)
	if a.status != 200 || sid == "" {
		r.t.Fatalf("start: %d %s", a.status, a.raw)
	}
	return sid
}

func stopBody(cname, uid string) map[string]any {
	return map[string]any{"cname": cname, "uid": uid, "clientRequest": map[string]any{}}
}

// TestAnswersGateway: what Agora's gateway answers (unknown routes and
// methods, credentials) is JSON {message} with a request ID, never
// net/http's text/plain; every request ID differs.
func TestAnswersGateway(t *testing.T) {
	r := newAPIRig(t, Config{})
	seen := map[string]bool{}
	for _, c := range []struct {
		what, method, path string
		auth               bool
		status             int
		message            string
	}{
		{"unknown path", "POST", "/resourceid/x/mode/individual/pause", true, 404, msgNoRoute},
		{"wrong method", "GET", "/acquire", true, 404, msgNoRoute},
		{"under /v1/apps only", "GET", "/v1/apps", true, 404, msgNoRoute},
		{"another app's unknown path", "DELETE", "/v1/apps/other/whatever", false, 404, msgNoRoute},
		{"no credentials", "POST", "/acquire", false, 401, msgUnauthorized},
	} {
		a := r.call(c.method, c.path, map[string]any{"cname": "c", "uid": "1"}, c.auth)
		a.want(t, c.what, c.status, map[string]any{"message": c.message})
		id := a.header.Get("X-Request-Id")
		if seen[id] {
			t.Errorf("%s: request ID %s repeated", c.what, id)
		}
		seen[id] = true
	}
	// Wrong credentials: Agora's other 401.
	req, _ := http.NewRequest("POST", r.srv.URL+"/v1/apps/"+testApp+"/cloud_recording/acquire", strings.NewReader(`{}`))
	req.SetBasicAuth(testUser, "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || strings.TrimSpace(string(b)) != `{"message":"Invalid authentication credentials"}` || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("wrong secret: %d %s (request ID %q)", resp.StatusCode, b, resp.Header.Get("X-Request-Id"))
	}
}

// TestAnswersErrorCodes produces the error codes of the request path
// with their bodies: 1013, 1001, 2, 432, 7 (with event 3), 1003, 404
// with Agora's body, 435, and 501 once the service closes.
func TestAnswersErrorCodes(t *testing.T) {
	r := newAPIRig(t, Config{})
	r.call("POST", "/acquire", map[string]any{"cname": strings.Repeat("c", 65), "uid": "1"}, true).
		want(t, "acquire with a 65-byte cname", 400, map[string]any{"code": codeBadCname})
	r.call("POST", "/acquire", map[string]any{"cname": "a/b", "uid": "1"}, true).
		want(t, "acquire with a slash in cname", 400, map[string]any{"code": codeBadCname})
	r.call("POST", "/resourceid/not-a-resource/mode/individual/start", r.startBody("room", "9", 9), true).
		want(t, "start with an unparseable resource ID", 400, map[string]any{"code": codeBadResourceID})
	r.call("POST", "/resourceid/"+newResourceID()+"/mode/individual/start", r.startBody("room", "9", 9), true).
		want(t, "start with an unknown resource ID", 400, map[string]any{"code": codeInvalidParam})
	rid := r.acquire("room", "9")
	r.call("POST", "/resourceid/"+rid+"/mode/individual/start", r.startBody("other", "9", 9), true).
		want(t, "start for another cname than acquired", 400, map[string]any{"code": codeMismatch})
	sid := r.start(rid, "room", "9", 9)
	r.call("POST", "/resourceid/"+rid+"/mode/individual/start", r.startBody("room", "9", 9), true).
		want(t, "start again", 201, map[string]any{"code": codeResourceReused})
	ups := r.ev.of(webhook.EventStatusUpdate)
	if len(ups) != 1 || ups[0].(webhook.StatusUpdate) != (webhook.StatusUpdate{Status: statusRunning, RecordingMode: 0}) {
		t.Errorf("event 3 after a start with a used resource: %v", ups)
	}
	other := r.acquire("room2", "9")
	r.call("GET", "/resourceid/"+other+"/sid/"+sid+"/mode/individual/query", nil, true).
		want(t, "query with another resource's sid", 400, map[string]any{"code": codeSIDMismatch})
	r.call("GET", "/resourceid/"+rid+"/sid/"+sid+"/mode/mix/query", nil, true).
		want(t, "query in the wrong mode", 400, map[string]any{"code": codeMismatch})
	r.call("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/update",
		map[string]any{"cname": "room", "uid": "8", "clientRequest": map[string]any{"streamSubscribe": map[string]any{}}}, true).
		want(t, "update naming another uid", 400, map[string]any{"code": codeMismatch})
	r.call("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/stop", stopBody("room", "8"), true).
		want(t, "stop naming another uid", 400, map[string]any{"code": codeMismatch})
	r.call("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/stop", stopBody("room", "9"), true).
		want(t, "stop of a recording without media", 206, map[string]any{"code": codeNoFile, "sid": sid})
	a := r.call("GET", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/query", nil, true)
	a.want(t, "query after the end", 404, map[string]any{"code": codeNotFound, "cname": "room", "uid": "9", "resourceId": rid, "sid": sid})
	if sr, _ := a.body["serverResponse"].(map[string]any); sr["command"] != "query" {
		t.Errorf("404 body %s: serverResponse.command is not query", a.raw)
	}
	unknown := strings.Repeat("f", 32)
	r.call("GET", "/resourceid/"+rid+"/sid/"+unknown+"/mode/individual/query", nil, true).
		want(t, "query of an unknown sid", 404, map[string]any{"code": codeNotFound, "resourceId": rid, "sid": unknown})

	if err := r.svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.call("POST", "/acquire", map[string]any{"cname": "room", "uid": "10", "clientRequest": map[string]any{}}, true).
		want(t, "acquire while shutting down", 503, map[string]any{"code": codeExiting})
	r.call("GET", "/resourceid/"+other+"/sid/"+sid+"/mode/individual/query", nil, true).
		want(t, "query while shutting down", 503, map[string]any{"code": codeExiting})
}

// TestAnswersRateLimit: with a limit of 3 requests a second, a burst of
// 5 gets 3 answers and then Agora's 429 {message}, counted; a second
// later requests pass again.
func TestAnswersRateLimit(t *testing.T) {
	r := newAPIRig(t, Config{RateLimit: 3})
	var statuses []int
	for range 5 {
		a := r.call("POST", "/acquire", map[string]any{"cname": "rate", "uid": "1", "clientRequest": map[string]any{}}, true)
		statuses = append(statuses, a.status)
		if a.status == 429 {
			a.want(t, "over the rate", 429, map[string]any{"message": msgRateLimit})
		}
	}
	if want := []int{200, 200, 200, 429, 429}; !equalInts(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if v := testutil.ToFloat64(r.m.CloudLimitRefused.WithLabelValues(limitRate)); v != 2 {
		t.Errorf(`ars_cloud_limit_refused_total{limit="rate"} = %v, want 2`, v)
	}
	time.Sleep(1100 * time.Millisecond)
	r.call("POST", "/acquire", map[string]any{"cname": "rate", "uid": "1", "clientRequest": map[string]any{}}, true).
		want(t, "a second later", 200, nil)
	// Off by default: 20 at once pass.
	free := newAPIRig(t, Config{})
	for i := range 20 {
		if a := free.call("POST", "/acquire", map[string]any{"cname": "rate", "uid": "1", "clientRequest": map[string]any{}}, true); a.status != 200 {
			t.Fatalf("request %d without a limit: %d %s", i, a.status, a.raw)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAnswersStopAndEvents records real media and stops it through the
// API: 200 with the files, then 49 for a repeated stop (and event 3 while
// the recorder still exits); the events are Agora's: 4 once per playlist
// when it is first uploaded, 41 with LEAVE_CODE_CLIENT_LEAVE (16), 31
// with the file list, 11.
func TestAnswersStopAndEvents(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "store")
	rg := newRig(t, filepath.Join(root, "work"), filepath.Join(root, "backup"), objstore.Destination{Kind: "local", Dir: store}, 6)
	// The rig's recorder behind the API: its own resource ID, and the
	// credentials and gate the API needs.
	rg.rec.rid = newResourceID()
	rg.svc.cfg.AppID, rg.svc.cfg.CustomerID, rg.svc.cfg.CustomerSecret = testApp, testUser, testPass
	rg.svc.guard = keyGate{api.NewKeyGate(rg.m, slog.New(slog.DiscardHandler))}
	mux := http.NewServeMux()
	rg.svc.Mount(func(p string, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := &apiRig{t: t, svc: rg.svc, srv: srv, ev: rg.ev, m: rg.m}

	rg.feedUntil(6 * time.Second)
	stopPath := "/resourceid/" + rg.rec.rid + "/sid/" + rg.rec.sid + "/mode/individual/stop"
	a := r.call("POST", stopPath, stopBody("diskroom", "999"), true)
	a.want(t, "stop", 200, map[string]any{"uploadingStatus": nil})
	sr, _ := a.body["serverResponse"].(map[string]any)
	if sr["uploadingStatus"] != "uploaded" {
		t.Fatalf("stop: %s", a.raw)
	}
	r.call("POST", stopPath, stopBody("diskroom", "999"), true).
		want(t, "repeated stop", 400, map[string]any{"code": codeRepeatedStop})

	leave := rg.ev.of(webhook.EventRecorderLeave)
	if len(leave) != 1 || leave[0].(webhook.RecorderLeave).LeaveCode != webhook.LeaveClientLeave {
		t.Errorf("recorder_leave after a stop: %v, want leaveCode 16", leave)
	}
	infos := rg.ev.of(webhook.EventFileInfos)
	names := map[string]int{}
	for _, d := range infos {
		names[d.(webhook.FileInfos).FileList]++
	}
	want := map[string]int{"rec/sid1_diskroom__uid_s_7__uid_e_audio.m3u8": 1, "rec/sid1_diskroom__uid_s_7__uid_e_video.m3u8": 1}
	if len(names) != len(want) || names[keysOf(want)[0]] != 1 || names[keysOf(want)[1]] != 1 {
		t.Errorf("event 4 sent for %v, want once for each of %v", names, keysOf(want))
	}
	up := rg.ev.of(webhook.EventUploaded)
	if len(up) != 1 || len(up[0].(webhook.Uploaded).FileList) != 2 {
		t.Errorf("uploaded: %v, want the two playlists listed", up)
	}
	if ex := rg.ev.of(webhook.EventSessionExit); len(ex) != 1 || ex[0].(webhook.SessionExit).ExitStatus != 0 {
		t.Errorf("session_exit: %v", ex)
	}
	// Event 4 precedes the outcome and the exit.
	var order []int
	rg.ev.mu.Lock()
	for _, g := range rg.ev.got {
		order = append(order, g.event)
	}
	rg.ev.mu.Unlock()
	last4, first31 := -1, -1
	for i, e := range order {
		if e == webhook.EventFileInfos {
			last4 = i
		}
		if e == webhook.EventUploaded && first31 < 0 {
			first31 = i
		}
	}
	if last4 < 0 || last4 > first31 || order[len(order)-1] != webhook.EventSessionExit {
		t.Errorf("event order %v", order)
	}
}

func keysOf(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 2 && out[0] > out[1] {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// TestLeaveCodes: each exit cause maps to Agora's recorder_leave bit.
func TestLeaveCodes(t *testing.T) {
	for cause, want := range map[string]int{"idle": 4, "stop": 16, "shutdown": 2, causeSuspend: 2, "failed": 0} {
		if got := leaveCode(cause); got != want {
			t.Errorf("leaveCode(%q) = %d, want %d", cause, got, want)
		}
	}
}
