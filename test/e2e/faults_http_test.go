package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
)

// apiAnswer is what an API call returned: the status, the error code if
// any, and the raw body.
type apiAnswer struct {
	status int
	code   string
	header http.Header
	body   map[string]any
}

// rawCall sends body as is, from the loopback address from (nil: the
// default), and decodes any JSON answer. It never fails the test, so that
// parallel subtests may use it.
func rawCall(base string, from net.IP, method, path, body string) (apiAnswer, error) {
	client := http.DefaultClient
	if from != nil {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}
		client = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return apiAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return apiAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode, header: resp.Header}
	if json.Unmarshal(raw, &a.body) == nil {
		if e, ok := a.body["error"].(map[string]any); ok {
			a.code, _ = e["code"].(string)
			if msg, _ := e["message"].(string); msg == "" {
				return a, fmt.Errorf("error %q without a message: %s", a.code, raw)
			}
		}
	} else if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		return a, fmt.Errorf("non-JSON answer %d: %q", resp.StatusCode, raw)
	}
	return a, nil
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// requireEmptyRoot fails if anything at all was written under root.
func requireEmptyRoot(t *testing.T, root string) {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		// .ars is the daemon's own state directory (ARS_STATE_DIR's
		// default), made at start-up, not by a request.
		if e.Name() == ".ars" {
			continue
		}
		t.Errorf("written under the root: %s", e.Name())
	}
}

// TestBadHTTP: malformed and oversized bodies, unknown fields, hostile
// channel names and out-of-range uids get a 4xx with a clear error code,
// and nothing is written under the recording root.
func TestBadHTTP(t *testing.T) {
	d := startDaemon(t)
	key := d.key("recording", "a", 1)
	start := func(fields string) string { return `{"channel":"a","uid":1,"key":"` + key + `"` + fields + `}` }
	startAs := func(channel string, uid any) string {
		return jsonBody(map[string]any{"channel": channel, "uid": uid, "key": key})
	}
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"not json", "POST", "/v1/recording/start", `{"channel":`, 400, "bad_request"},
		{"empty body", "POST", "/v1/recording/start", ``, 400, "bad_request"},
		{"array", "POST", "/v1/recording/start", `[1,2,3]`, 400, "bad_request"},
		{"two objects", "POST", "/v1/recording/start", start("") + start(""), 400, "bad_request"},
		{"trailing garbage", "POST", "/v1/recording/start", start("") + "xyz", 400, "bad_request"},
		{"unknown field", "POST", "/v1/recording/start", start(`,"admin":true`), 400, "unknown_field"},
		{"wrong type", "POST", "/v1/recording/start", `{"channel":7,"uid":1,"key":"k"}`, 400, "bad_request"},
		{"oversized body", "POST", "/v1/recording/start", start(`,"tag":"` + strings.Repeat("x", 100<<10) + `"`), 413, "body_too_large"},
		{"deeply nested", "POST", "/v1/recording/start", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), 400, "bad_request"},
		{"oversized tag", "POST", "/v1/recording/start", start(`,"tag":"` + strings.Repeat("x", 2000) + `"`), 400, "invalid_tag"},
		{"missing key", "POST", "/v1/recording/start", `{"channel":"a","uid":1}`, 401, "missing_key"},
		{"uid 0", "POST", "/v1/recording/start", startAs("a", 0), 400, "invalid_uid"},
		{"uid 2^32", "POST", "/v1/recording/start", startAs("a", uint64(1)<<32), 400, "invalid_uid"},
		{"uid 2^64", "POST", "/v1/recording/start", `{"channel":"a","uid":18446744073709551616,"key":"k"}`, 400, "invalid_uid"},
		{"uid -1", "POST", "/v1/recording/start", startAs("a", -1), 400, "invalid_uid"},
		{"uid fraction", "POST", "/v1/recording/start", startAs("a", 1.5), 400, "invalid_uid"},
		{"uid exponent", "POST", "/v1/recording/start", `{"channel":"a","uid":1e3,"key":"k"}`, 400, "invalid_uid"},
		{"uid string junk", "POST", "/v1/recording/start", startAs("a", "12abc"), 400, "invalid_uid"},
		{"uid missing", "POST", "/v1/recording/start", `{"channel":"a","key":"k"}`, 400, "invalid_uid"},
		{"channel ../", "POST", "/v1/recording/start", startAs("../../etc", 1), 400, "invalid_channel"},
		{"channel ..", "POST", "/v1/recording/start", startAs("..", 1), 400, "invalid_channel"},
		{"channel .", "POST", "/v1/recording/start", startAs(".", 1), 400, "invalid_channel"},
		{"channel slash", "POST", "/v1/recording/start", startAs("a/b", 1), 400, "invalid_channel"},
		{"channel absolute", "POST", "/v1/recording/start", startAs("/etc/passwd", 1), 400, "invalid_channel"},
		{"channel backslash", "POST", "/v1/recording/start", startAs(`a\..\b`, 1), 400, "invalid_channel"},
		{"channel NUL", "POST", "/v1/recording/start", startAs("a\x00b", 1), 400, "invalid_channel"},
		{"channel newline", "POST", "/v1/recording/start", startAs("a\nb", 1), 400, "invalid_channel"},
		{"channel non-ASCII", "POST", "/v1/recording/start", startAs("café", 1), 400, "invalid_channel"},
		{"channel empty", "POST", "/v1/recording/start", startAs("", 1), 400, "invalid_channel"},
		{"channel 65 bytes", "POST", "/v1/recording/start", startAs(strings.Repeat("c", 65), 1), 400, "invalid_channel"},
		{"stop channel ../", "POST", "/v1/recording/stop", startAs("../x", 1), 400, "invalid_channel"},
		{"join channel ../", "POST", "/v1/rtp/join", `{"channel":"../x","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"H264"}]}`, 400, "invalid_channel"},
		{"join no streams", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[]}`, 400, "invalid_streams"},
		{"join five streams", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[` + strings.Repeat(`{"ssrc":1,"payloadType":96,"codec":"H264"},`, 4) + `{"ssrc":1,"payloadType":96,"codec":"H264"}]}`, 400, "invalid_streams"},
		{"join bad codec", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"H265"}]}`, 400, "invalid_streams"},
		{"join payload type 200", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":200,"codec":"H264"}]}`, 400, "invalid_streams"},
		{"join ssrc 2^32", "POST", "/v1/rtp/join", `{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":4294967296,"payloadType":96,"codec":"H264"}]}`, 400, "bad_request"},
		{"status ../", "GET", "/v1/recording/status?channel=" + url.QueryEscape("../../etc"), "", 400, "invalid_channel"},
		{"status NUL", "GET", "/v1/recording/status?channel=%00", "", 400, "invalid_channel"},
		{"leave unknown id", "DELETE", "/v1/rtp/..%2F..%2Fetc", "", 404, "not_found"},
	}
	for _, tc := range cases {
		a, err := rawCall(d.base, nil, tc.method, tc.path, tc.body)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.status != tc.status || a.code != tc.code {
			t.Errorf("%s: %d %q, want %d %q (%v)", tc.name, a.status, a.code, tc.status, tc.code, a.body)
		}
	}
	// Paths that try to climb out of the API are cleaned or refused.
	for _, p := range []string{"/v1/recording/../../../etc/passwd", "/v1/rtp/%2e%2e/%2e%2e/etc", "/../v1/recording/status?channel=a"} {
		if a, err := rawCall(d.base, nil, "GET", p, ""); err != nil || a.status == http.StatusOK && a.body["channel"] != "a" {
			t.Errorf("GET %s: %d %v %v", p, a.status, a.body, err)
		}
	}
	if !d.healthy() {
		t.Fatal("daemon unhealthy")
	}
	requireEmptyRoot(t, d.root)
}

// TestKeyMisuse: keys of another channel, uid, service or app, expired and
// malformed keys are refused with the right status and code, and nothing
// is written.
func TestKeyMisuse(t *testing.T) {
	d := startDaemon(t)
	now := uint32(time.Now().Unix())
	otherApp, err := rdk.BuildKey4(rdk.Service4Recording, rdk.DynamicKeyParams{
		AppID: "0123456789abcdef0123456789abcdef", AppCertificate: "fedcba9876543210fedcba9876543210",
		Channel: "b", UID: 1, UnixTs: now, Salt: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	streams := []map[string]any{{"ssrc": 1, "payloadType": 96, "codec": "H264"}}
	cases := []struct {
		name, path string
		body       map[string]any
		status     int
		code       string
	}{
		{"recording key of another channel", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": d.key("recording", "a", 1)}, 401, "invalid_key"},
		{"recording key of another uid", "/v1/recording/start", map[string]any{"channel": "b", "uid": 2, "key": d.key("recording", "b", 1)}, 401, "invalid_key"},
		{"005 key of another channel", "/v1/recording/stop", map[string]any{"channel": "b", "uid": 1, "key": d.key("recording", "a", 1, "--format", "005")}, 401, "invalid_key"},
		{"token of another channel", "/v1/rtp/join", map[string]any{"channel": "b", "uid": 1, "key": d.key("token", "a", 1), "streams": streams}, 403, "wrong_channel_or_uid"},
		{"media key to record", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": d.key("media", "b", 1)}, 403, "wrong_service"},
		{"recording key to join", "/v1/rtp/join", map[string]any{"channel": "b", "uid": 1, "key": d.key("recording", "b", 1), "streams": streams}, 403, "wrong_service"},
		{"key of another app", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": otherApp}, 403, "wrong_app"},
		{"key made 10 minutes ago", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": mintKey(rdk.Service4Recording, "b", 1, now-600, 0)}, 401, "key_expired"},
		{"key made 10 minutes ahead", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": mintKey(rdk.Service4Recording, "b", 1, now+600, 0)}, 401, "key_expired"},
		{"key past its expiredTs", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": mintKey(rdk.Service4Recording, "b", 1, now, now-1)}, 401, "key_expired"},
		{"garbage key", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": "004not-a-key"}, 401, "invalid_key"},
		{"huge key", "/v1/recording/start", map[string]any{"channel": "b", "uid": 1, "key": "004" + strings.Repeat("0", 40<<10)}, 401, "invalid_key"},
	}
	for _, tc := range cases {
		a, err := rawCall(d.base, nil, "POST", tc.path, jsonBody(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.status != tc.status || a.code != tc.code {
			t.Errorf("%s: %d %q, want %d %q (%v)", tc.name, a.status, a.code, tc.status, tc.code, a.body)
		}
	}
	if st := d.status("b"); st.Recording || len(st.Users) != 0 {
		t.Errorf("channel b after refused keys: %+v", st)
	}
	if n := d.metric(`ars_key_failures_total{code="invalid_key"}`); n != 5 {
		t.Errorf("invalid_key failures counted: %v, want 5", n)
	}
	requireEmptyRoot(t, d.root)
	if strings.Contains(d.out.String(), appCert) {
		t.Error("the app certificate appears in the log")
	}
}

// TestKeyReplay pins down the replay semantics: a DynamicKey is a bearer
// token valid while its timestamp is within ARS_KEY_MAX_SKEW of the
// daemon's clock. Within that window it may be used again (start and stop
// are idempotent; a start after a stop starts a new recording); after it,
// the same key is refused as expired.
func TestKeyReplay(t *testing.T) {
	d := startDaemon(t, "ARS_KEY_MAX_SKEW=3s")
	ts := time.Now().Unix()
	k := mintKey(rdk.Service4Recording, "replay", 9, uint32(ts), 0)
	body := jsonBody(map[string]any{"channel": "replay", "uid": 9, "key": k})
	call := func(path string) apiAnswer {
		t.Helper()
		a, err := rawCall(d.base, nil, "POST", path, body)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	first := call("/v1/recording/start")
	again := call("/v1/recording/start")
	if first.status != 200 || first.body["started"] != true || again.status != 200 || again.body["started"] != false || again.body["directory"] != first.body["directory"] {
		t.Fatalf("start, replayed start: %v / %v", first.body, again.body)
	}
	if s1, s2 := call("/v1/recording/stop"), call("/v1/recording/stop"); s1.body["stopped"] != true || s2.body["stopped"] != false {
		t.Fatalf("stop, replayed stop: %v / %v", s1.body, s2.body)
	}
	// Still inside the window: the replay starts a new recording.
	third := call("/v1/recording/start")
	if third.status != 200 || third.body["started"] != true || third.body["directory"] == first.body["directory"] {
		t.Fatalf("replay within the window: %d %v", third.status, third.body)
	}
	call("/v1/recording/stop")
	days, _ := os.ReadDir(d.root)
	// Past the window the same key is refused.
	time.Sleep(time.Until(time.Unix(ts+5, 0)))
	late := call("/v1/recording/start")
	if late.status != 401 || late.code != "key_expired" {
		t.Fatalf("replay after the window: %d %v", late.status, late.body)
	}
	if later, _ := os.ReadDir(d.root); len(later) != len(days) || d.status("replay").Recording {
		t.Error("an expired replay changed something")
	}
}

// TestKeyFailureRateLimit: an address that keeps failing key checks gets
// 429 too_many_failures with Retry-After; other addresses are unaffected.
func TestKeyFailureRateLimit(t *testing.T) {
	d := startDaemon(t)
	bad := jsonBody(map[string]any{"channel": "guess", "uid": 1, "key": mintKey(rdk.Service4Recording, "other", 1, uint32(time.Now().Unix()), 0)})
	failures := 0
	var limited apiAnswer
	for i := 0; i < 200; i++ {
		a, err := rawCall(d.base, nil, "POST", "/v1/recording/start", bad)
		if err != nil {
			t.Fatal(err)
		}
		if a.status == http.StatusTooManyRequests {
			limited = a
			break
		}
		if a.status != 401 {
			t.Fatalf("attempt %d: %d %v", i, a.status, a.body)
		}
		failures++
	}
	t.Logf("429 after %d failed key checks", failures)
	if limited.status != http.StatusTooManyRequests || limited.code != "too_many_failures" {
		t.Fatalf("no 429 too_many_failures after %d failures: %+v", failures, limited)
	}
	if limited.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The limited address is refused even with a valid key...
	good := jsonBody(map[string]any{"channel": "guess", "uid": 1, "key": nowKey(rdk.Service4Recording, "guess", 1)})
	if a, err := rawCall(d.base, nil, "POST", "/v1/recording/start", good); err != nil || a.status != http.StatusTooManyRequests {
		t.Errorf("valid key from the limited address: %d %v %v", a.status, a.body, err)
	}
	// ...while another address is judged on its own.
	other := net.IPv4(127, 0, 0, 2)
	if a, err := rawCall(d.base, other, "POST", "/v1/recording/start", bad); err != nil || a.status != 401 {
		t.Errorf("bad key from another address: %d %v %v", a.status, a.body, err)
	}
	if a, err := rawCall(d.base, other, "POST", "/v1/recording/start", good); err != nil || a.status != 200 || a.body["started"] != true {
		t.Errorf("valid key from another address: %d %v %v", a.status, a.body, err)
	}
	// Requests that need no key still work from the limited address.
	if !d.healthy() || !d.status("guess").Recording {
		t.Error("status refused to the limited address")
	}
}

// TestSlowClients: a client that sends its headers slowly is cut off
// after the header timeout, one that sends its body slowly after the read
// timeout, and a crowd of stalled connections does not keep others out.
func TestSlowClients(t *testing.T) {
	d := startDaemon(t)
	addr := strings.TrimPrefix(d.base, "http://")
	// dribble writes head, then one more piece each interval, and reports
	// how long the server let it go on (it gives up after limit).
	dribble := func(t *testing.T, head, piece string, interval, limit time.Duration) (time.Duration, string) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		closed := make(chan string, 1)
		go func() {
			got, _ := io.ReadAll(bufio.NewReader(conn)) // until the server closes
			closed <- string(got)
		}()
		for time.Since(start) < limit {
			select {
			case got := <-closed:
				return time.Since(start), got
			case <-time.After(interval):
			}
			if _, err := io.WriteString(conn, piece); err != nil {
				break
			}
		}
		select {
		case got := <-closed:
			return time.Since(start), got
		case <-time.After(5 * time.Second):
			return time.Since(start), "(still open)"
		}
	}
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		took, got := dribble(t, "POST /v1/recording/start HTTP/1.1\r\nHost: ars\r\n", "X-Slow: 1\r\n", 500*time.Millisecond, 40*time.Second)
		t.Logf("slow headers cut off after %v: %q", took.Round(time.Millisecond), firstLine(got))
		if took > 15*time.Second {
			t.Errorf("a client dribbling headers was served for %v (ReadHeaderTimeout is 5s)", took)
		}
	})
	t.Run("body", func(t *testing.T) {
		t.Parallel()
		head := "POST /v1/recording/start HTTP/1.1\r\nHost: ars\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
		took, got := dribble(t, head, " ", time.Second, 60*time.Second)
		t.Logf("slow body cut off after %v: %q", took.Round(time.Millisecond), firstLine(got))
		if took > 45*time.Second {
			t.Errorf("a client dribbling its body was served for %v (ReadTimeout is 30s)", took)
		}
	})
	t.Run("crowd", func(t *testing.T) {
		t.Parallel()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < 300; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ars\r\n")
			conns = append(conns, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", d.base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("healthz with 300 stalled connections open: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
