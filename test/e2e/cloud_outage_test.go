package e2e

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

// TestCloudRecordingStorageOutage stops the S3 server in the middle of a
// recording: the recording ends "backuped", and once the server is back
// the backed-up files reach the bucket and the recording plays in full.
func TestCloudRecordingStorageOutage(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("outage")
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks)
	c := newAgoraClient(t, d, appID)
	const cname = "outageroom"

	_, acq := c.acquire(cname, recorderUID)
	st, started := c.start(acq.ResourceId, "individual", individualStart(d.key("media", cname, 527841), cname, s3, "outage", false))
	if st != http.StatusOK {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 44, 0x4441, 0x4442)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 8)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first uploads", 15*time.Second, func() bool {
		return slices.ContainsFunc(s3.keys("outage"), func(k string) bool { return strings.HasSuffix(k, ".m3u8") })
	})
	s3.kill()
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}
	st, stopped := c.stop(rid, sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "backuped" || len(stopped.ServerResponse.FileList) != 2 {
		t.Fatalf("stop during the outage: %d %+v", st, stopped)
	}
	waitFor(t, "session_exit notification", 20*time.Second, func() bool { return hooks.has(sid, webhook.EventSessionExit) })
	checkEventOrder(t, hooks.events(sid), webhook.EventBackuped)
	if hooks.has(sid, webhook.EventUploaded) {
		t.Error("uploaded reported during the outage")
	}
	// Each file that went to the backup: event 2 from the uploader with
	// Agora's warnCode 32; backuped lists the recording's files.
	warned := 0
	for _, n := range hooks.events(sid) {
		dt := n.Payload.Details
		switch n.EventType {
		case webhook.EventWarning:
			if dt["msgName"] != "cloud_recording_warning" || dt["module"] != float64(1) || dt["warnCode"] != float64(webhook.WarnReuploadBackup) ||
				!strings.HasPrefix(dt["fileName"].(string), "rec/day1/"+sid) || n.Payload.ServiceType != 0 {
				t.Errorf("warning: %+v", n)
			}
			warned++
		case webhook.EventBackuped:
			if fl, _ := dt["fileList"].([]any); len(fl) != 2 {
				t.Errorf("backuped lists %v", dt["fileList"])
			}
		}
	}
	if warned == 0 {
		t.Error("no cloud_recording_warning for the backed-up files")
	}
	t.Logf("%d files went to the backup (event 2 each)", warned)

	s3.start()
	waitFor(t, "backed-up files in the bucket", 30*time.Second, func() bool {
		keys := s3.keys("outage")
		for _, f := range stopped.ServerResponse.FileList {
			if !slices.Contains(keys, f.FileName) {
				return false
			}
		}
		return hooks.has(sid, webhook.EventUploaded)
	})
	// Every backed-up file goes; the playlists are the final ones.
	waitFor(t, "complete playlists", 30*time.Second, func() bool {
		for _, f := range stopped.ServerResponse.FileList {
			local := s3.download("outage", f.FileName, t.TempDir())
			if math.Abs(playlistSeconds(t, local)-8) > 0.6 {
				return false
			}
		}
		return true
	})
	for _, f := range stopped.ServerResponse.FileList {
		local := s3.download("outage", f.FileName, t.TempDir())
		decodeSilently(t, local)
		t.Logf("%s: %.3f s after the outage", f.FileName, playlistSeconds(t, local))
	}
}
