package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// TestWebRTCLoopbackOnlyHost is issue #12's finding 9: a host whose only
// interface is loopback (a fresh network namespace: a container, a CI
// runner), the daemon listening on every address (ARS_BIND empty) and
// announcing ARS_WEBRTC_HOSTS=127.0.0.1. Chromium in the same namespace
// publishes its fake camera and microphone over WHIP; the recording
// converts to an MP4 with H.264 and Opus frames that ffmpeg decodes
// without a word. pion's warning about a mux on an unspecified address
// is not in the daemon's log.
func TestWebRTCLoopbackOnlyHost(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	if os.Getenv(netnsEnv) == "" {
		// Outside a namespace of its own the daemon would listen on the
		// host's every address and the browser offer them.
		t.Skip("needs a network namespace where only loopback exists (unshare -n)")
	}
	requireChromium(t)
	requireFFmpeg(t)
	d := startDaemon(t, "ARS_BIND=", "ARS_WEBRTC_PORT="+strconv.Itoa(freeICEPort(t)),
		"ARS_WEBRTC_HOSTS=127.0.0.1", "ARS_KEYFRAME_INTERVAL=2s")
	out := d.out.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "unspecified address") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("start-up warning: %s", line)
		}
	}
	if !strings.Contains(out, "hosts=127.0.0.1") {
		t.Errorf("start-up log does not name the announced hosts:\n%s", out)
	}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 && ifc.Flags&net.FlagUp != 0 {
			t.Fatalf("interface %s is up: not a loopback-only host", ifc.Name)
		}
	}

	const channel, uid = "loopback only", 4
	start := d.startRecording(channel, uid, "")
	b := startBrowser(t)
	pg := b.publish(d, channel, uid)
	t0 := time.Now()
	time.Sleep(6 * time.Second)
	if st := d.status(channel); len(st.Users) != 1 || st.Users[0].File == "" {
		t.Fatalf("status while publishing: %+v", st)
	}
	pg.click("unpublish")
	published := time.Since(t0)
	waitFor(t, "recording to stop", 15*time.Second, func() bool { return !d.status(channel).Recording })
	mp4s := webrtcWaitMP4s(t, start.Directory, 1)
	if len(mp4s) != 1 || !strings.HasPrefix(filepath.Base(mp4s[0]), fmt.Sprint(uid)+"_") {
		t.Fatalf("MP4s %v", mp4s)
	}
	duration, frames := checkWebRTCMP4(t, mp4s[0])
	t.Logf("published %v, MP4 %v, video %d frames, audio %d frames", published.Round(time.Millisecond), duration, frames["video"], frames["audio"])
}

// loopbackOffer is a complete WHIP offer (H.264 and Opus) of a pion
// client that is closed at once: its only candidate, on 127.0.0.1, will
// never answer STUN, so the session it opens never finishes ICE.
func loopbackOffer(t *testing.T) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}

// whipFrom POSTs an offer from source address src and returns the status,
// Retry-After and error code.
func whipFrom(t *testing.T, d *daemon, src, channel string, uid uint32, key, sdp string) (int, string, string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", d.base+"/v1/whip?channel="+channel+"&uid="+strconv.FormatUint(uint64(uid), 10), strings.NewReader(sdp))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code
}

// TestWebRTCPendingCap is issue #12's finding 8 for WHIP against the
// built daemon: WHIP sessions that never finish ICE are refused over
// ARS_WEBRTC_MAX_PENDING_PER_ADDR (429) and ARS_WEBRTC_MAX_PENDING (503)
// with Retry-After; after ARS_WEBRTC_ICE_TIMEOUT they are all gone, the
// pending gauge is 0, the daemon's goroutines are back to where they
// were, and a new offer is answered.
func TestWebRTCPendingCap(t *testing.T) {
	d := startDaemon(t, "ARS_WEBRTC_PORT="+strconv.Itoa(freeICEPort(t)),
		"ARS_WEBRTC_MAX_PENDING=4", "ARS_WEBRTC_MAX_PENDING_PER_ADDR=2", "ARS_WEBRTC_ICE_TIMEOUT=4s")
	sdp := loopbackOffer(t)
	const channel = "pending"
	keys := map[uint32]string{}
	for uid := uint32(1); uid <= 7; uid++ {
		keys[uid] = d.key("media", channel, uid)
	}
	baseline := d.metric("go_goroutines")
	uid := uint32(0)
	for _, tc := range []struct {
		src    string
		status int
		code   string
	}{
		{"127.0.0.1", http.StatusCreated, ""},
		{"127.0.0.1", http.StatusCreated, ""},
		{"127.0.0.1", http.StatusTooManyRequests, "too_many_pending_from_address"},
		{"127.0.0.2", http.StatusCreated, ""},
		{"127.0.0.3", http.StatusCreated, ""},
		{"127.0.0.4", http.StatusServiceUnavailable, "too_many_pending"},
	} {
		uid++
		status, retry, code := whipFrom(t, d, tc.src, channel, uid, keys[uid], sdp)
		if status != tc.status || code != tc.code || (tc.code != "" && retry != "4") {
			t.Fatalf("uid %d from %s: %d %q Retry-After %q, want %d %q", uid, tc.src, status, code, retry, tc.status, tc.code)
		}
	}
	if p := d.metric("ars_webrtc_pending_sessions"); p != 4 {
		t.Fatalf("pending gauge %v, want 4", p)
	}
	if a, b := d.metric(`ars_webrtc_refused_total{reason="pending_per_address"}`), d.metric(`ars_webrtc_refused_total{reason="pending_full"}`); a != 1 || b != 1 {
		t.Fatalf("refusals: per address %v, in total %v", a, b)
	}
	waitFor(t, "pending sessions to time out", 15*time.Second, func() bool {
		return d.metric("ars_webrtc_pending_sessions") == 0 && len(d.status(channel).Users) == 0
	})
	if n := d.metric("ars_webrtc_ice_timeouts_total"); n != 4 {
		t.Fatalf("ICE timeouts %v, want 4", n)
	}
	var goroutines float64
	waitFor(t, "goroutines to settle", 15*time.Second, func() bool {
		goroutines = d.metric("go_goroutines")
		return goroutines <= baseline
	})
	t.Logf("goroutines: %v before the offers, %v after the timeouts", baseline, goroutines)
	if status, _, code := whipFrom(t, d, "127.0.0.4", channel, 7, keys[7], sdp); status != http.StatusCreated {
		t.Fatalf("after the timeouts: %d %s", status, code)
	}
}

// TestWebRTCLoopbackFallback: with neither ARS_WEBRTC_HOSTS nor ARS_BIND
// set, on a host where only loopback exists, the answer still offers
// 127.0.0.1 on the WebRTC port (UDP and ICE-TCP): loopback is announced
// when it is the only way in.
func TestWebRTCLoopbackFallback(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	if os.Getenv(netnsEnv) == "" {
		t.Skip("needs a network namespace where only loopback exists (unshare -n)")
	}
	port := freeICEPort(t)
	d := startDaemon(t, "ARS_BIND=", "ARS_WEBRTC_PORT="+strconv.Itoa(port))
	const channel, uid = "fallback", 3
	req, _ := http.NewRequest("POST", d.base+"/v1/whip?channel="+channel+"&uid=3", strings.NewReader(loopbackOffer(t)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+d.key("media", channel, uid))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, answer)
	}
	var got []string
	for _, line := range strings.Split(string(answer), "\n") {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=candidate:")); strings.HasPrefix(line, "a=candidate:") && len(f) >= 8 {
			got = append(got, strings.ToLower(f[2])+" "+f[4]+":"+f[5])
		}
	}
	want := "127.0.0.1:" + strconv.Itoa(port)
	if !slices.Contains(got, "udp "+want) || !slices.Contains(got, "tcp "+want) {
		t.Fatalf("candidates %q, want udp and tcp %s", got, want)
	}
}
