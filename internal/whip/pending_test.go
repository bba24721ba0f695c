package whip

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// postFrom sends chromeOffer (a browser's offer whose one candidate,
// 127.0.0.1:50000, answers no STUN: ICE never completes) from source
// address src, and returns the status, Retry-After and error code.
func (f *fixture) postFrom(t *testing.T, src string, uid string) (int, string, string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/whip?channel=room&uid="+uid, strings.NewReader(chromeOffer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+mediaKey(t, "room", parseUID(t, uid)))
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

func parseUID(t *testing.T, s string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

// TestPendingCapsAndICETimeout: sessions that never finish ICE are capped
// per client address (429) and in total (503), each refusal with a
// stable code and Retry-After; after the ICE timeout every one of them is
// gone (PeerConnection, participant, goroutines) and capacity returns.
func TestPendingCapsAndICETimeout(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t), WithPendingLimits(3, 2), WithICETimeout(1500*time.Millisecond))
	m := f.ing.metrics.WebRTC
	type try struct {
		src, uid   string
		status     int
		code       string
		retryAfter string
	}
	for _, tc := range []try{
		{"127.0.0.1", "1", http.StatusCreated, "", ""},
		{"127.0.0.1", "2", http.StatusCreated, "", ""},
		{"127.0.0.1", "3", http.StatusTooManyRequests, "too_many_pending_from_address", "2"},
		{"127.0.0.2", "3", http.StatusCreated, "", ""},
		{"127.0.0.3", "4", http.StatusServiceUnavailable, "too_many_pending", "2"},
	} {
		status, retry, code := f.postFrom(t, tc.src, tc.uid)
		if status != tc.status || code != tc.code || retry != tc.retryAfter {
			t.Fatalf("uid %s from %s: %d %q Retry-After %q, want %d %q %q", tc.uid, tc.src, status, code, retry, tc.status, tc.code, tc.retryAfter)
		}
	}
	if p := testutil.ToFloat64(m.Pending); p != 3 || f.ing.pending.count() != 3 || f.ing.Sessions() != 3 {
		t.Fatalf("pending gauge %v, gate %d, sessions %d", p, f.ing.pending.count(), f.ing.Sessions())
	}
	if a, b := testutil.ToFloat64(m.RefusedPendingAddr), testutil.ToFloat64(m.RefusedPending); a != 1 || b != 1 {
		t.Fatalf("refusals per address %v, in total %v", a, b)
	}
	waitFor(t, "pending sessions to time out", 10*time.Second, func() bool {
		return f.ing.Sessions() == 0 && testutil.ToFloat64(m.Pending) == 0 && len(f.mgr.Status("room").Users) == 0
	})
	if n := testutil.ToFloat64(m.ICETimeouts); n != 3 {
		t.Fatalf("ICE timeouts %v, want 3", n)
	}
	if status, _, code := f.postFrom(t, "127.0.0.3", "4"); status != http.StatusCreated {
		t.Fatalf("after the timeouts: %d %s", status, code)
	}
	waitFor(t, "the last session to time out", 10*time.Second, func() bool {
		return f.ing.Sessions() == 0 && testutil.ToFloat64(m.Pending) == 0
	})
}

// TestConnectedSessionIsNotPending: a session that connects gives its
// place back at once and is not ended by the ICE timeout.
func TestConnectedSessionIsNotPending(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t), WithPendingLimits(1, 1), WithICETimeout(time.Second))
	m := f.ing.metrics.WebRTC
	c := withTracks(t, newClient(t, browserLike), false, true)
	status, loc, answer := f.post("channel=room&uid=5", mediaKey(t, "room", 5), "application/sdp", offer(t, c))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	if err := c.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, 10*time.Second, webrtc.PeerConnectionStateConnected)
	waitFor(t, "the connected session to leave the pending count", 5*time.Second, func() bool { return testutil.ToFloat64(m.Pending) == 0 })
	// The one place is free for another client while the first records.
	if status, _, code := f.postFrom(t, "127.0.0.2", "6"); status != http.StatusCreated {
		t.Fatalf("second offer: %d %s", status, code)
	}
	time.Sleep(2 * time.Second) // past the ICE timeout
	if c.ConnectionState() != webrtc.PeerConnectionStateConnected || testutil.ToFloat64(m.ICETimeouts) != 1 {
		t.Fatalf("after the ICE timeout: client %s, timeouts %v", c.ConnectionState(), testutil.ToFloat64(m.ICETimeouts))
	}
	if code := f.do("DELETE", loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	waitFor(t, "sessions to end", 10*time.Second, func() bool { return f.ing.Sessions() == 0 })
}
