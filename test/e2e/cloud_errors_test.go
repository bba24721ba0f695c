package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestCloudRecordingErrorCodes produces every Agora error code the API
// answers with, through the official client's request shapes and retry
// rules.
func TestCloudRecordingErrorCodes(t *testing.T) {
	requireFFmpeg(t)
	d := cloudDaemon(t, nil, "ARS_CLOUD_RESOURCE_TTL=2s")
	c := newAgoraClient(t, d, appID)
	const cname = "errroom"
	token := d.key("media", cname, 527841)
	body := func() *startReqBody { return individualStart(token, cname, nil, "localbucket", false) }

	t.Run("bad credentials", func(t *testing.T) {
		bad := newAgoraClient(t, d, appID)
		bad.password = "wrong"
		if st, _ := bad.acquire(cname, recorderUID); st != http.StatusUnauthorized {
			t.Errorf("acquire with a wrong secret: %d", st)
		}
	})
	t.Run("foreign appid", func(t *testing.T) {
		other := newAgoraClient(t, d, "00000000000000000000000000000000")
		if st, a := other.acquire(cname, recorderUID); st != 400 || a.Code != 2 {
			t.Errorf("acquire for another app: %d %+v", st, a)
		}
	})
	t.Run("invalid parameters", func(t *testing.T) {
		if st, a := c.acquire(cname, "12ab"); st != 400 || a.Code != 2 {
			t.Errorf("acquire with uid 12ab: %d %+v", st, a)
		}
		_, acq := c.acquire(cname, recorderUID)
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
	})

	var rid, sid string
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
	})
	t.Run("400 code 53 on the same cname and uid", func(t *testing.T) {
		_, acq := c.acquire(cname, recorderUID)
		if st, a := c.start(acq.ResourceId, "individual", body()); st != 400 || a.Code != 53 {
			t.Errorf("start of a second recorder: %d %+v", st, a)
		}
	})
	t.Run("206 code 435 when nothing was recorded", func(t *testing.T) {
		st, a := c.stop(rid, sid, cname, recorderUID)
		if st != http.StatusPartialContent || a.Code != 435 || c.attempts != 1 {
			t.Fatalf("stop: %d %+v after %d requests", st, a, c.attempts)
		}
		// A 206 is safe to repeat: the same answer again.
		if st, b := c.stop(rid, sid, cname, recorderUID); st != http.StatusPartialContent || b.Code != 435 || b.Sid != a.Sid {
			t.Errorf("repeated stop: %d %+v", st, b)
		}
	})
	t.Run("404 code 404 after the end", func(t *testing.T) {
		if st, a := c.query(rid, sid); st != 404 || a.Code != 404 {
			t.Errorf("query: %d %+v", st, a)
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
		_, acq := c.acquire("idle", recorderUID)
		b := individualStart(d.key("media", "idle", 527841), "idle", nil, "localbucket", false)
		b.ClientRequest.RecordingConfig.MaxIdleTime = 5
		st, a := c.start(acq.ResourceId, "individual", b)
		if st != 200 {
			t.Fatalf("start: %d %+v", st, a)
		}
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
