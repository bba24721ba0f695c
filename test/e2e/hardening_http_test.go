package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/storage"
)

// floodNofile is the descriptor limit of the flooded daemon: small enough
// that the flood below would exhaust it without a budget (thousands of
// connections), as a default 1024/4096 limit would on a real host.
const floodNofile = 1400

// TestConnectionFlood: while a channel records, one address opens 1,500
// idle keep-alive connections, then 30 more addresses 100 each. The
// daemon runs with RLIMIT_NOFILE 1400 (hard), so that without a budget
// the flood takes every descriptor. Meanwhile a client on 127.0.0.1 gets
// an answer to every request within 1 s, a second participant joins and
// its capture file opens mid-flood; after the stop both captures hold
// every packet the daemon received, nothing was dropped, and the log has
// no EMFILE.
func TestConnectionFlood(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemonWithNofile(t, floodNofile)
	t.Logf("daemon descriptor limit (soft/hard): %s", nofileOf(t, d.pid()))
	if lim := d.metric("ars_fd_limit"); lim != floodNofile {
		t.Errorf("ars_fd_limit %v, want %d", lim, floodNofile)
	}
	maxConns := floodNofile - 64 - 4 - d.metric("ars_fd_reserve")
	t.Logf("reserve %v descriptors, HTTP budget %v connections", d.metric("ars_fd_reserve"), maxConns)
	if !strings.Contains(d.out.String(), "HTTP connection budget was shrunk") {
		t.Error("no warning that the HTTP budget was shrunk to fit the limit")
	}
	addr := strings.TrimPrefix(d.base, "http://")
	const channel = "flood"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	alice := d.joinRTP(channel, 1, 0x1001, 0x1002)
	d.startRecording(channel, 1, "")
	senderA := sendMedia(ctx, alice.RTPPort, alice.VideoSSRC, alice.AudioSSRC, 14)
	if err := senderA.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's packets", 10*time.Second, func() bool { return d.metric("ars_packets_written_total") > 50 })

	probe := startProber(d.base, 200*time.Millisecond, time.Second)
	f := newFlood()
	defer f.close()

	// One address.
	f.open(addr, []net.IP{net.IPv4(127, 0, 0, 2)}, 1500, 16)
	t.Logf("flood from one address: %s", f)
	if held := d.metric("ars_http_connections"); held > 64+2 { // and this call's, and the prober's
		t.Errorf("the daemon holds %v connections after a flood from one address (per-address budget 64)", held)
	}

	// A participant joins during the flood: its capture opens on its
	// first packet, with the flood's connections open.
	var bob participant
	code, err := freshCall(d.base, "POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": 2, "key": nowKey(rdk.Service4Media, channel, 2),
		"streams": []map[string]any{
			{"ssrc": 0x2001, "payloadType": 96, "codec": "H264", "clockRate": 90000, "fmtp": "packetization-mode=1"},
			{"ssrc": 0x2002, "payloadType": 111, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &bob, 5*time.Second)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("join during the flood: %d %v", code, err)
	}
	senderB := sendMedia(ctx, bob.RTPPort, 0x2001, 0x2002, 8)
	if err := senderB.Start(); err != nil {
		t.Fatal(err)
	}

	// Many addresses: the total budget, then evictions of idle ones.
	var many []net.IP
	for i := 3; i < 33; i++ {
		many = append(many, net.IPv4(127, 0, 0, byte(i)))
	}
	f.open(addr, many, 100, 16)
	t.Logf("flood from 30 more addresses: %s", f)
	held := d.metric("ars_http_connections")
	t.Logf("daemon holds %v HTTP connections (budget %v), %v descriptors open",
		held, maxConns, d.metric("ars_fd_open"))
	if held > maxConns {
		t.Errorf("daemon holds %v connections over its budget of %v", held, maxConns)
	}

	if err := senderB.Wait(); err != nil {
		t.Fatalf("ffmpeg (bob): %v", err)
	}
	if err := senderA.Wait(); err != nil {
		t.Fatalf("ffmpeg (alice): %v", err)
	}
	probes, slowest, failures := probe.finish()
	t.Logf("%d probes from 127.0.0.1 during the flood, slowest %v", probes, slowest.Round(time.Millisecond))
	for _, fl := range failures {
		t.Errorf("probe: %s", fl)
	}
	m := d.metrics()
	for _, kind := range []string{"refused", "evicted"} {
		t.Logf("%s: per_ip %v, total %v, fd_reserve %v", kind, m[`ars_http_connections_`+kind+`_total{reason="per_ip"}`],
			m[`ars_http_connections_`+kind+`_total{reason="total"}`], m[`ars_http_connections_`+kind+`_total{reason="fd_reserve"}`])
	}
	// One address competed with itself; many filled the total.
	if m[`ars_http_connections_evicted_total{reason="per_ip"}`] < 1400 || m[`ars_http_connections_evicted_total{reason="total"}`] == 0 {
		t.Error("the per-address and total budgets were not both reached")
	}
	f.close()

	// Every packet received was written: nothing dropped, no kernel drops.
	var drops float64
	for _, cause := range dropCauses {
		drops += dropped(m, cause)
	}
	received, written := m["ars_packets_received_total"], m["ars_packets_written_total"]
	t.Logf("received %v, written %v, dropped %v, kernel drops %v", received, written, drops, m["ars_udp_kernel_drops_total"])
	if drops != 0 || received != written || m["ars_udp_kernel_drops_total"] != 0 {
		t.Errorf("lost media: received %v, written %v, dropped %v (write_failed %v), kernel %v",
			received, written, drops, dropped(m, "write_failed"), m["ars_udp_kernel_drops_total"])
	}
	dir := d.status(channel).Directory
	d.stopRecording(channel, 1)
	caps := findFiles(t, dir, storage.CaptureExt)
	if len(caps) != 2 {
		t.Fatalf("captures %v, want alice's and bob's", caps)
	}
	var inFiles uint64
	for _, c := range caps {
		s := summarize(t, c)
		ssrcs := []uint32{alice.VideoSSRC, alice.AudioSSRC}
		if s.Header.UID == 2 {
			ssrcs = []uint32{0x2001, 0x2002}
		}
		checkCapture(t, c, channel, s.Header.UID, ssrcs...)
		for _, st := range s.Streams {
			inFiles += st.Packets + st.Duplicates
		}
		inFiles += s.RTCPPackets
	}
	if float64(inFiles) != written {
		t.Errorf("captures hold %d packets, the daemon counted %v written", inFiles, written)
	}
	for _, bad := range []string{"too many open files", "EMFILE"} {
		if strings.Contains(d.out.String(), bad) {
			t.Errorf("the log has %q", bad)
		}
	}
}

// TestHTTPQuietFindings: the channel list needs the operator token in
// production; a lock-out's 429 (cloud API included) says why, even to
// correct credentials, and never "Invalid authentication credentials";
// duplicate JSON fields are refused by the recording and the cloud APIs;
// a folded header is refused over a raw connection.
func TestHTTPQuietFindings(t *testing.T) {
	const token = "operator-token-for-the-e2e-test"
	d := cloudDaemon(t, nil, "ARS_ADMIN_TOKEN="+token)

	// The channel list.
	d.joinRTP("listed", 5, 0x501, 0x502)
	list := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", d.base+"/v1/channels", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := fresh(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := list(""); code != 401 || !strings.Contains(body, "admin_token_required") || strings.Contains(body, "listed") {
		t.Errorf("channel list without a token: %d %s", code, body)
	}
	if code, body := list("Bearer " + token); code != 200 || !strings.Contains(body, `"channel":"listed"`) {
		t.Errorf("channel list with the token: %d %s", code, body)
	}

	// Duplicate fields.
	key := d.key("recording", "dup", 1)
	a, err := rawCall(d.base, nil, "POST", "/v1/recording/start", `{"channel":"dup","uid":1,"key":"`+key+`","channel":"other"}`)
	if err != nil || a.status != 400 || a.code != "duplicate_field" {
		t.Errorf("duplicate channel on start: %+v %v", a, err)
	}
	cloudURL := d.base + "/v1/apps/" + appID + "/cloud_recording/acquire"
	cloud := func(user, secret, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", cloudURL, strings.NewReader(body))
		req.SetBasicAuth(user, secret)
		req.Header.Set("Content-Type", "application/json;charset=utf-8")
		resp, err := fresh(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := cloud(customerID, customerSecret, `{"cname":"dup","uid":"1","cname":"other","clientRequest":{}}`); code != 400 || out["code"] != float64(2) {
		t.Errorf("duplicate cname on acquire: %d %v", code, out)
	}

	// Obsolete line folding, over a raw connection.
	c, err := net.Dial("tcp", strings.TrimPrefix(d.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ars\r\nX-Folded: one\r\n two\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "header_folding") {
		t.Errorf("folded header: %d %s", resp.StatusCode, b)
	}

	// The cloud API's lock-out, last: it locks this address out.
	var code int
	var out map[string]any
	for i := 0; i < 100 && code != http.StatusTooManyRequests; i++ {
		code, out = cloud(customerID, "wrong", `{"cname":"c","uid":"1","clientRequest":{}}`)
		if code != 401 && code != 429 {
			t.Fatalf("bad credentials: %d %v", code, out)
		}
	}
	if code != 429 {
		t.Fatal("no lock-out after 100 bad credentials")
	}
	code, out = cloud(customerID, customerSecret, `{"cname":"c","uid":"1","clientRequest":{}}`)
	msg, _ := out["message"].(string)
	t.Logf("lock-out answer to correct credentials: %d %q", code, msg)
	if code != 429 || strings.Contains(msg, "Invalid authentication credentials") || !strings.Contains(msg, "retry after") {
		t.Errorf("lock-out answer to correct credentials: %d %v", code, out)
	}
}

// TestConsoleOperatorToken: in Chromium, the console of a production
// daemon asks for the operator token before it lists channels, says so
// when the token is wrong, and lists them with the right one; in
// development mode it lists them without asking.
func TestConsoleOperatorToken(t *testing.T) {
	requireChromium(t)
	const token = "console-operator-token-0123"
	d := startDaemon(t, "ARS_ADMIN_TOKEN="+token)
	d.joinRTP("ops room", 9, 0x901, 0x902)
	b := startBrowser(t)
	pg := b.newPage(d.base + "/")
	pg.waitJS("console ready", `document.body.dataset.ready === 'true'`, 20*time.Second)
	if hidden := pg.str(`String(document.getElementById('admin-row').hidden)`); hidden != "false" {
		t.Fatal("no operator token field in production mode")
	}
	rows := `document.querySelectorAll('#channels tbody tr').length`
	pg.waitJS("a request for the token", `document.getElementById('no-channels').textContent.includes('operator token') && `+rows+` === 0`, 10*time.Second)
	pg.setValue("admin-token", "wrong-token-wrong-token")
	pg.must(`document.getElementById('admin-token').dispatchEvent(new Event('change'))`)
	pg.waitJS("the wrong token said", `document.getElementById('no-channels').textContent.includes('invalid_admin_token') && `+rows+` === 0`, 10*time.Second)
	pg.setValue("admin-token", token)
	pg.must(`document.getElementById('admin-token').dispatchEvent(new Event('change'))`)
	pg.waitJS("the channel listed", `[...document.querySelectorAll('#channels tbody tr')].some(r => r.dataset.channel === 'ops room' && r.textContent.includes('uid 9'))`, 10*time.Second)

	// Development mode: no credentials configured, no token asked.
	dev := startDaemon(t, "ARS_APP_ID=", "ARS_APP_CERTIFICATE=")
	var keys struct {
		MediaKey string `json:"mediaKey"`
	}
	if code := dev.call("POST", "/v1/dev/keys", map[string]any{"channel": "dev room", "uid": 3}, &keys); code != 200 {
		t.Fatalf("dev keys: %d", code)
	}
	var p participant
	if code := dev.call("POST", "/v1/rtp/join", map[string]any{"channel": "dev room", "uid": 3, "key": keys.MediaKey,
		"streams": []map[string]any{{"ssrc": 0x301, "payloadType": 96, "codec": "H264", "clockRate": 90000}}}, &p); code != http.StatusCreated {
		t.Fatalf("dev join: %d", code)
	}
	dp := b.newPage(dev.base + "/")
	dp.waitJS("dev console ready", `document.body.dataset.ready === 'true'`, 20*time.Second)
	dp.waitJS("the dev channel listed without a token", `document.getElementById('admin-row').hidden && [...document.querySelectorAll('#channels tbody tr')].some(r => r.dataset.channel === 'dev room')`, 10*time.Second)
}
