package e2e

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

// startCloudWebRTCDaemon runs `ars serve` with WebRTC ingest and the cloud
// API, storing recordings on local disk under localDir: an S3 server would
// be one more process to fit in the test's network namespace, and the
// upload path is what TestCloudRecordingIndividualHLS covers.
func startCloudWebRTCDaemon(t *testing.T, hooks *hookReceiver, localDir string) *daemon {
	t.Helper()
	return startDaemon(t,
		"ARS_WEBRTC_PORT="+strconv.Itoa(freeICEPort(t)),
		"ARS_KEYFRAME_INTERVAL=2s",
		"ARS_CLOUD_CUSTOMER_ID="+customerID,
		"ARS_CLOUD_CUSTOMER_SECRET="+customerSecret,
		"ARS_CLOUD_SEGMENT_DURATION=2s",
		"ARS_CLOUD_LOCAL_DIR="+localDir,
		"ARS_IDLE_TIMEOUT=5s",
		"ARS_WEBHOOK_URL="+hooks.srv.URL,
		"ARS_WEBHOOK_SECRET="+webhookSecret,
	)
}

// streamStates lists, in order, the states (0 receiving, 1 stopped) the
// webhook reported for one uid's stream of the given event type.
func streamStates(evs []notification, eventType int, uid string) []int {
	var states []int
	for _, n := range evs {
		if n.EventType != eventType {
			continue
		}
		streams, _ := n.Payload.Details["streams"].([]any)
		for _, s := range streams {
			m, _ := s.(map[string]any)
			if m["streamUid"] == uid {
				st, _ := m["state"].(float64)
				states = append(states, int(st))
			}
		}
	}
	return states
}

// TestCloudWebRTCParticipant is a cloud recording (individual mode, HLS,
// every stream subscribed) of a channel where Chromium publishes over
// WHIP from the console page while ffmpeg publishes over RTP: the file
// list grows with each uid's playlists while recording, and after stop
// every playlist (Agora's MPEG-TS: H.264 copied, AAC) decodes silently and
// lasts as long as its uid published; snapshots every 5 s (the browser's
// keyframes asked for with PLI) decode, one event 45 each.
func TestCloudWebRTCParticipant(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	requireChromium(t)
	requireFFmpeg(t)
	const (
		cname     = "cloudwebrtc"
		bucket    = "localbucket"
		webrtcUID = 31
		rtpUID    = 42
		rtpSecs   = 5.0
		webrtcFor = 9 * time.Second
	)
	localDir := t.TempDir()
	hooks := newHookReceiver(t)
	d := startCloudWebRTCDaemon(t, hooks, localDir)
	c := newAgoraClient(t, d, appID)

	st, acq := c.acquire(cname, recorderUID)
	if st != http.StatusOK || acq.ResourceId == "" {
		t.Fatalf("acquire: %d %+v", st, acq)
	}
	// Recording and snapshots every 5 s: a snapshot of the browser needs
	// a keyframe, which Chromium sends only when asked (PLI).
	const interval = 5
	body := &snapStartReq{Cname: cname, Uid: recorderUID, ClientRequest: &snapClientRequest{
		startClientRequest: individualStart(d.key("media", cname, 527841), cname, nil, bucket, false).ClientRequest,
		SnapshotConfig:     &snapshotConfig{CaptureInterval: interval, FileType: []string{"jpg"}}}}
	var started cloudAnswer
	if st := c.do("POST", "/resourceid/"+acq.ResourceId+"/mode/individual/start", body, &started); st != http.StatusOK || started.Sid == "" {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid

	// listed reports whether the file list names the audio and video
	// playlists of every given uid; last keeps the list it saw.
	var last []cloudFile
	listed := func(uids ...string) bool {
		st, q := c.query(rid, sid)
		if st != http.StatusOK || q.ServerResponse.Status != 5 {
			return false
		}
		last = q.ServerResponse.FileList
		have := map[string]bool{}
		for _, f := range last {
			if strings.HasSuffix(f.FileName, ".m3u8") {
				have[f.Uid+" "+f.TrackType] = true
			}
		}
		for _, u := range uids {
			if !have[u+" audio"] || !have[u+" video"] {
				return false
			}
		}
		return true
	}
	waitListed := func(timeout time.Duration, uids ...string) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !listed(uids...) {
			if time.Now().After(deadline) {
				t.Fatalf("playlists of uids %v not listed within %v; last file list %+v", uids, timeout, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if st, q := c.query(rid, sid); st != http.StatusOK || len(q.ServerResponse.FileList) != 0 {
		t.Fatalf("query before media: %d %+v", st, q)
	}

	b := startBrowser(t)
	pg := b.publish(d, cname, webrtcUID)
	t0 := time.Now()
	waitListed(15*time.Second, "31")
	if listed("42") {
		t.Fatal("the RTP uid is listed before it joined")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, rtpUID, 0x4241, 0x4242)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, rtpSecs)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	waitListed(15*time.Second, "31", "42")
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}

	time.Sleep(time.Until(t0.Add(webrtcFor)))
	pg.click("unpublish")
	published := time.Since(t0)
	pg.waitJS("publishing stopped", `document.getElementById('publish-status').dataset.state === 'idle'`, 10*time.Second)

	st, stopped := c.stop(rid, sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop: %d %+v", st, stopped)
	}
	want := map[string]float64{"31": published.Seconds(), "42": rtpSecs}
	seen := map[string]bool{}
	for _, f := range stopped.ServerResponse.FileList {
		if !strings.HasSuffix(f.FileName, ".m3u8") {
			t.Errorf("file list entry %+v: only HLS was asked for", f)
			continue
		}
		if !f.IsPlayable || f.MixedAllUser || !strings.HasPrefix(f.FileName, "rec/day1/"+sid+"_"+cname+"__uid_s_"+f.Uid+"__uid_e_"+f.TrackType) {
			t.Errorf("file list entry %+v", f)
		}
		seen[f.Uid+" "+f.TrackType] = true
		local := filepath.Join(localDir, bucket, filepath.FromSlash(f.FileName))
		decodeSilently(t, local)
		// Agora's files: the browser's H.264 copied, its Opus as AAC.
		if ps := probePackets(t, local); len(ps) != 1 || ps[0].codec != map[string]string{"audio": "aac", "video": "h264"}[f.TrackType] {
			t.Errorf("%s: streams %+v", f.FileName, ps)
		}
		got := playlistSeconds(t, local)
		t.Logf("uid %s %s: %.3f s (published %.3f s)", f.Uid, f.TrackType, got, want[f.Uid])
		if math.Abs(got-want[f.Uid]) > 1 {
			t.Errorf("%s lasts %.2f s, uid %s published for %.2f s", f.FileName, got, f.Uid, want[f.Uid])
		}
	}
	for _, k := range []string{"31 audio", "31 video", "42 audio", "42 video"} {
		if !seen[k] {
			t.Errorf("no playlist for uid %s in the stop answer %+v", k, stopped.ServerResponse.FileList)
		}
	}

	// Snapshots of both, each a JPEG that decodes, ceil(seconds/interval)
	// ± 1 per uid.
	shots, _ := filepath.Glob(filepath.Join(localDir, bucket, "rec", "day1", sid+"_"+cname+"__uid_s_*__uid_e_video_*.jpg"))
	perUID := map[string]int{}
	for _, f := range shots {
		decodeSilently(t, f)
		uid := strings.TrimPrefix(filepath.Base(f), sid+"_"+cname+"__uid_s_")
		perUID[uid[:strings.Index(uid, "_")]]++
	}
	for uid, secs := range want {
		n, w := perUID[uid], int(math.Ceil(secs/interval))
		t.Logf("uid %s: %d snapshots in %.1f s", uid, n, secs)
		if n < w-1 || n > w+1 || n == 0 {
			t.Errorf("uid %s: %d snapshots, want %d ± 1 (at least one)", uid, n, w)
		}
	}

	// The WebRTC uid's streams were announced when they began and when
	// the browser left.
	waitFor(t, "session_exit notification", 20*time.Second, func() bool { return hooks.has(sid, webhook.EventSessionExit) })
	evs := hooks.events(sid)
	for _, ev := range []int{webhook.EventAudioStreamStateChanged, webhook.EventVideoStreamStateChanged} {
		if got := streamStates(evs, ev, "31"); !slices.Equal(got, []int{0, 1}) {
			t.Errorf("event %d states of uid 31: %v, want [0 1]", ev, got)
		}
	}
	if n := len(slices.DeleteFunc(evs, func(n notification) bool { return n.EventType != webhook.EventRecorderSnapshotFile })); n != len(shots) {
		t.Errorf("%d events 45 for %d snapshots", n, len(shots))
	}
	if hooks.bad != 0 {
		t.Errorf("%d notifications with bad signatures", hooks.bad)
	}
}
