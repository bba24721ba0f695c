package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

// TestCloudRecordingErrorCodes produces every Agora error code the API
// answers with, through the official client's request shapes and retry
// rules, and the events that go with them.
func TestCloudRecordingErrorCodes(t *testing.T) {
	requireFFmpeg(t)
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks, "ARS_CLOUD_RESOURCE_TTL=2s")
	c := newAgoraClient(t, d, appID)
	const cname = "errroom"
	token := d.key("media", cname, 527841)
	body := func() *startReqBody { return individualStart(token, cname, nil, "localbucket", false) }

	t.Run("gateway answers", func(t *testing.T) {
		bad := newAgoraClient(t, d, appID)
		bad.password = "wrong"
		if st, _ := bad.acquire(cname, recorderUID); st != http.StatusUnauthorized || gatewayMessage(bad) != "Invalid authentication credentials" {
			t.Errorf("acquire with a wrong secret: %d %s", st, bad.raw)
		}
		ids := map[string]bool{}
		for _, g := range []struct {
			method, path, auth string
			status             int
			message            string
		}{
			{"POST", "/v1/apps/" + appID + "/cloud_recording/acquire", "", 401, "Unauthorized"},
			{"GET", "/v1/apps/" + appID + "/cloud_recording/acquire", "basic", 404, "no Route matched with those values"},
			{"POST", "/v1/apps/" + appID + "/cloud_recording/resourceid/x/mode/individual/pause", "basic", 404, "no Route matched with those values"},
			{"PUT", "/v1/apps/" + appID + "/cloud_recording/resourceid/x/sid/y/mode/individual/stop", "basic", 404, "no Route matched with those values"},
		} {
			req, _ := http.NewRequest(g.method, d.base+g.path, strings.NewReader(`{}`))
			if g.auth != "" {
				req.SetBasicAuth(customerID, customerSecret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			id := resp.Header.Get("X-Request-Id")
			if resp.StatusCode != g.status || m["message"] != g.message || len(m) != 1 ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || id == "" || ids[id] {
				t.Errorf("%s %s: %d %s %q, request ID %q", g.method, g.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, id)
			}
			ids[id] = true
		}
	})
	t.Run("foreign appid", func(t *testing.T) {
		other := newAgoraClient(t, d, "00000000000000000000000000000000")
		if st, a := other.acquire(cname, recorderUID); st != 400 || a.Code != 2 {
			t.Errorf("acquire for another app: %d %+v", st, a)
		}
	})
	t.Run("invalid parameters", func(t *testing.T) {
		if st, a := c.acquire(cname, "12ab"); st != 400 || a.Code != 2 || c.attempts != 1 || c.header.Get("X-Request-Id") == "" {
			t.Errorf("acquire with uid 12ab: %d %+v after %d requests, request ID %q", st, a, c.attempts, c.header.Get("X-Request-Id"))
		}
		if st, a := c.acquire("bad/name", recorderUID); st != 400 || a.Code != 1013 {
			t.Errorf("acquire with a slash in cname: %d %+v", st, a)
		}
		if st, a := c.start("not-a-resource-id", "individual", body()); st != 400 || a.Code != 1001 {
			t.Errorf("start with an unparseable resource ID: %d %+v", st, a)
		}
		_, acq := c.acquire(cname, recorderUID)
		other := body()
		other.Uid = "527842"
		if st, a := c.start(acq.ResourceId, "individual", other); st != 400 || a.Code != 432 {
			t.Errorf("start with another uid than acquired: %d %+v", st, a)
		}
		b := body()
		b.ClientRequest.StorageConfig.FileNamePrefix = []string{"with_underscore"}
		if st, a := c.start(acq.ResourceId, "individual", b); st != 400 || a.Code != 2 {
			t.Errorf("start with an underscore in fileNamePrefix: %d %+v", st, a)
		}
		b = body()
		b.ClientRequest.RecordingConfig.UnsubscribeAudioUIDs = []string{"5"}
		if st, a := c.start(acq.ResourceId, "individual", b); st != 400 || a.Code != 2 {
			t.Errorf("start with both audio lists: %d %+v", st, a)
		}
		if st, a := c.start(acq.ResourceId, "web", body()); st != 400 || a.Code != 2 {
			t.Errorf("web mode: %d %+v", st, a)
		}
		b = body()
		b.ClientRequest.Token = "007garbage"
		if st, a := c.start(acq.ResourceId, "individual", b); st != http.StatusUnauthorized || a.Code != 110 {
			t.Errorf("start with a bad token: %d %+v", st, a)
		}
		b = body()
		b.ClientRequest.Token = d.key("media", cname, 527841, "--ts", fmt.Sprint(time.Now().Add(-2*time.Hour).Unix()),
			"--expire-at", fmt.Sprint(time.Now().Add(-time.Hour).Unix()))
		if st, a := c.start(acq.ResourceId, "individual", b); st != http.StatusUnauthorized || a.Code != 109 {
			t.Errorf("start with an expired token: %d %+v", st, a)
		}
	})

	var rid, sid, idleSID string
	t.Run("201 code 7 on a reused resource", func(t *testing.T) {
		_, acq := c.acquire(cname, recorderUID)
		st, a := c.start(acq.ResourceId, "individual", body())
		if st != 200 {
			t.Fatalf("start: %d %+v", st, a)
		}
		rid, sid = acq.ResourceId, a.Sid
		if st, a := c.start(rid, "individual", body()); st != http.StatusCreated || a.Code != 7 || c.attempts != 1 {
			t.Errorf("second start: %d %+v after %d requests", st, a, c.attempts)
		}
		// Event 3: the call did not match the recording's state.
		waitFor(t, "cloud_recording_status_update", 10*time.Second, func() bool { return hooks.has(sid, webhook.EventStatusUpdate) })
		for _, n := range hooks.events(sid) {
			if n.EventType == webhook.EventStatusUpdate {
				dt := n.Payload.Details
				if dt["msgName"] != "cloud_recording_status_update" || dt["status"] != float64(5) || dt["recordingMode"] != float64(0) ||
					dt["fileList"] != "" || n.Payload.ServiceType != 0 {
					t.Errorf("event 3: %+v", n)
				}
			}
		}
	})
	t.Run("432 and 1003 on mismatched calls", func(t *testing.T) {
		_, acq := c.acquire("elsewhere", recorderUID)
		if st, a := c.query(acq.ResourceId, sid); st != 400 || a.Code != 1003 {
			t.Errorf("query of the sid under another resource ID: %d %+v", st, a)
		}
		var a errAnswer
		if st := c.do("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/update",
			&updateReqBody{Cname: cname, Uid: "1", ClientRequest: &updateClientRequest{}}, &a); st != 400 || a.Code != 432 {
			t.Errorf("update naming another uid: %d %+v", st, a)
		}
	})
	t.Run("400 code 53 on the same cname and uid", func(t *testing.T) {
		_, acq := c.acquire(cname, recorderUID)
		if st, a := c.start(acq.ResourceId, "individual", body()); st != 400 || a.Code != 53 {
			t.Errorf("start of a second recorder: %d %+v", st, a)
		}
	})
	t.Run("206 code 435 when nothing was recorded", func(t *testing.T) {
		// The official client retries a 206: three times the same answer.
		st, a := c.stop(rid, sid, cname, recorderUID)
		if st != http.StatusPartialContent || a.Code != 435 || c.attempts != 3 {
			t.Fatalf("stop: %d %+v after %d requests", st, a, c.attempts)
		}
		// A 206 is safe to repeat: the same answer again.
		if st, b := c.stop(rid, sid, cname, recorderUID); st != http.StatusPartialContent || b.Code != 435 || b.Sid != a.Sid {
			t.Errorf("repeated stop: %d %+v", st, b)
		}
	})
	t.Run("404 code 404 after the end", func(t *testing.T) {
		if st, a := c.query(rid, sid); st != 404 || a.Code != 404 || a.Cname != cname || a.Uid != recorderUID || a.ResourceId != rid || a.Sid != sid ||
			!strings.Contains(string(c.raw), `"serverResponse":{"command":"query"}`) {
			t.Errorf("query: %d %s", st, c.raw)
		}
		if st, a := c.query(rid, "ffffffffffffffffffffffffffffffff"); st != 404 || a.Code != 404 {
			t.Errorf("query of an unknown sid: %d %+v", st, a)
		}
	})
	t.Run("433 on an expired resource", func(t *testing.T) {
		_, acq := c.acquire("expiry", recorderUID)
		time.Sleep(2500 * time.Millisecond)
		b := individualStart(d.key("media", "expiry", 527841), "expiry", nil, "localbucket", false)
		if st, a := c.start(acq.ResourceId, "individual", b); st != 400 || a.Code != 433 {
			t.Errorf("start after the TTL: %d %+v", st, a)
		}
	})
	t.Run("idle recorder exits", func(t *testing.T) {
		defer func() {
			// recorder_leave with LEAVE_CODE_NO_USERS.
			for _, n := range hooks.events(idleSID) {
				if n.EventType == webhook.EventRecorderLeave && n.Payload.Details["leaveCode"] != float64(webhook.LeaveNoUsers) {
					t.Errorf("recorder_leave of an idle recorder: %v", n.Payload.Details)
				}
			}
			if !hooks.has(idleSID, webhook.EventRecorderLeave) {
				t.Errorf("no recorder_leave from the idle recorder")
			}
		}()
		_, acq := c.acquire("idle", recorderUID)
		b := individualStart(d.key("media", "idle", 527841), "idle", nil, "localbucket", false)
		b.ClientRequest.RecordingConfig.MaxIdleTime = 5
		st, a := c.start(acq.ResourceId, "individual", b)
		if st != 200 {
			t.Fatalf("start: %d %+v", st, a)
		}
		idleSID = a.Sid
		// A participant comes and goes; 5 s after the channel empties the
		// recorder leaves on its own.
		p := d.joinRTP("idle", 33, 0x3331, 0x3332)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 3).Run(); err != nil {
			t.Fatal(err)
		}
		if st := d.call("DELETE", "/v1/rtp/"+p.ID, nil, nil); st >= 300 {
			t.Fatalf("leave: %d", st)
		}
		if st, q := c.query(acq.ResourceId, a.Sid); st != 200 || len(q.ServerResponse.FileList) != 2 {
			t.Errorf("query while idle: %d %+v", st, q)
		}
		waitFor(t, "the idle recorder to exit", 15*time.Second, func() bool {
			st, _ := c.query(acq.ResourceId, a.Sid)
			return st == 404
		})
	})
}

// gatewayMessage is the message of the last answer, "" if it is not
// Agora's gateway {message}.
func gatewayMessage(c *agoraClient) string {
	var m map[string]any
	if json.Unmarshal(c.raw, &m) != nil || len(m) != 1 {
		return ""
	}
	s, _ := m["message"].(string)
	return s
}

// slowLink is a TCP proxy on loopback in front of a real server that,
// once slowed, holds what the client sends until a moment: a slow
// network between ars and its storage.
type slowLink struct {
	ln    net.Listener
	until atomic.Int64 // unix nanoseconds; 0: not slowed
	wg    sync.WaitGroup
}

func newSlowLink(t *testing.T, upstream string) *slowLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{ln: ln}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			l.wg.Add(2)
			go func() { defer l.wg.Done(); l.pipe(up, c, true) }()
			go func() { defer l.wg.Done(); l.pipe(c, up, false) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

// pipe copies src to dst; requests (toServer) wait out the slow period.
func (l *slowLink) pipe(dst, src net.Conn, toServer bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(2 * time.Minute))
		n, err := src.Read(buf)
		if n > 0 {
			if u := l.until.Load(); toServer && u > 0 {
				time.Sleep(time.Until(time.Unix(0, u)))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// slow holds requests for d from now on.
func (l *slowLink) slow(d time.Duration) { l.until.Store(time.Now().Add(d).UnixNano()) }

func (l *slowLink) endpoint() string { return "http://" + l.ln.Addr().String() }

// TestCloudStopNotCompleted: a synchronous stop whose last uploads are
// slower than the stop's wait (5 s) answers 206 code 65; repeating it
// answers 200 with every file uploaded once they are; a stop after that
// answers 400 code 49. The events are
// Agora's: 4 once per playlist (its name), 41 with leaveCode 16, 31 with
// the file list, 11 with exitStatus 0.
func TestCloudStopNotCompleted(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("slow")
	link := newSlowLink(t, s3.addr)
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks)
	c := newAgoraClient(t, d, appID)
	const cname = "slowroom"
	_, acq := c.acquire(cname, recorderUID)
	b := individualStart(d.key("media", cname, 527841), cname, s3, "slow", false)
	b.ClientRequest.StorageConfig.ExtensionParams.Endpoint = link.endpoint()
	st, started := c.start(acq.ResourceId, "individual", b)
	if st != 200 {
		t.Fatalf("start: %d %+v", st, started)
	}
	p := d.joinRTP(cname, 41, 0x4101, 0x4102)
	if err := sendMedia(context.Background(), p.RTPPort, p.VideoSSRC, p.AudioSSRC, 6).Run(); err != nil {
		t.Fatal(err)
	}
	// The last segments and playlists take 8 s to reach the storage.
	link.slow(8 * time.Second)
	stopPath := "/resourceid/" + acq.ResourceId + "/sid/" + started.Sid + "/mode/individual/stop"
	req, _ := http.NewRequest("POST", c.base+stopPath, strings.NewReader(`{"cname":"`+cname+`","uid":"`+recorderUID+`","clientRequest":{}}`))
	req.SetBasicAuth(customerID, customerSecret)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a cloudAnswer
	_ = json.Unmarshal(first, &a)
	if resp.StatusCode != http.StatusPartialContent || a.Code != 65 || a.Sid != started.Sid || a.ServerResponse.UploadingStatus != "unknown" {
		t.Fatalf("stop while uploads stall: %d in %v: %s", resp.StatusCode, time.Since(t0), first)
	}
	t.Logf("first stop: 206 code 65 after %v", time.Since(t0).Round(time.Millisecond))
	// Repeated as the answer says (the official client would, 1 s later):
	// the final answer once the uploads are done.
	st, stopped := c.stop(acq.ResourceId, started.Sid, cname, recorderUID)
	if st != 200 || c.attempts != 1 || stopped.ServerResponse.UploadingStatus != "uploaded" || len(stopped.ServerResponse.FileList) != 2 {
		t.Fatalf("repeated stop: %d after %d requests: %s", st, c.attempts, c.raw)
	}
	t.Logf("repeated stop: 200 uploaded, %v after the first", time.Since(t0).Round(time.Millisecond))
	if st, a := c.stop(acq.ResourceId, started.Sid, cname, recorderUID); st != 400 || a.Code != 49 || c.attempts != 1 {
		t.Errorf("stop after stop: %d %+v after %d requests", st, a, c.attempts)
	}

	waitFor(t, "session_exit", 20*time.Second, func() bool { return hooks.has(started.Sid, webhook.EventSessionExit) })
	infos := map[string]int{}
	for _, n := range hooks.events(started.Sid) {
		dt := n.Payload.Details
		switch n.EventType {
		case webhook.EventFileInfos:
			name, _ := dt["fileList"].(string)
			infos[name]++
			if dt["msgName"] != "cloud_recording_file_infos" || n.Payload.ServiceType != 0 {
				t.Errorf("event 4: %+v", n)
			}
		case webhook.EventRecorderLeave:
			if dt["leaveCode"] != float64(webhook.LeaveClientLeave) {
				t.Errorf("recorder_leave after a stop: %v", dt)
			}
		case webhook.EventUploaded:
			fl, _ := dt["fileList"].([]any)
			if len(fl) != 2 {
				t.Errorf("uploaded lists %v, want the two playlists", dt["fileList"])
			}
		case webhook.EventSessionExit:
			if dt["exitStatus"] != float64(0) {
				t.Errorf("session_exit: %v", dt)
			}
		}
	}
	for _, f := range stopped.ServerResponse.FileList {
		if infos[f.FileName] != 1 {
			t.Errorf("event 4 for %s sent %d times, want once (all: %v)", f.FileName, infos[f.FileName], infos)
		}
	}
	if len(infos) != 2 {
		t.Errorf("event 4 sent for %v, want the two playlists", infos)
	}
}

// TestCloudRateLimit: with ARS_CLOUD_RATE_LIMIT=2 a burst of 4 requests
// gets 2 answers and then Agora's 429 {"message":"API rate limit
// exceeded"}, which the official client does not retry; the refusals
// are counted in ars_cloud_limit_refused_total{limit="rate"}.
func TestCloudRateLimit(t *testing.T) {
	d := cloudDaemon(t, nil, "ARS_CLOUD_RATE_LIMIT=2")
	c := newAgoraClient(t, d, appID)
	var got []string
	for range 4 {
		st, _ := c.acquire("rateroom", recorderUID)
		got = append(got, fmt.Sprintf("%d:%d:%s", st, c.attempts, gatewayMessage(c)))
	}
	want := []string{"200:1:", "200:1:", "429:1:API rate limit exceeded", "429:1:API rate limit exceeded"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("answers %v, want %v", got, want)
	}
	if v := d.metric(`ars_cloud_limit_refused_total{limit="rate"}`); v != 2 {
		t.Errorf("rate refusals counted %v, want 2", v)
	}
}
