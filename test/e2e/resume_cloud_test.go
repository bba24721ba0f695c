package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

// cloudResumeCase runs an individual-mode cloud recording to local
// storage through a restart of the daemon (stop is how the first one
// ends) while an ffmpeg participant keeps sending, and checks what the
// issue promises: the same resource ID and sid answer query while
// recording and stop afterwards, the playlists decode across the restart
// with one EXT-X-DISCONTINUITY, and the webhook hears event 12.
//
// ts runs it on Agora's MPEG-TS (the default; AAC audio from the
// transcoder process, which the daemon's death ends too); otherwise on
// fMP4 with MP4 files.
func cloudResumeCase(t *testing.T, stop func(d *daemon) time.Time, wantReason string, ts bool) {
	requireFFmpeg(t)
	hooks := newHookReceiver(t)
	local := t.TempDir()
	format := "fmp4"
	if ts {
		format = "ts"
	}
	d := cloudDaemon(t, hooks, "ARS_CLOUD_LOCAL_DIR="+local, "ARS_CLOUD_INDIVIDUAL_FORMAT="+format)
	c := newAgoraClient(t, d, appID)
	const cname = "cloudresume"

	st, acq := c.acquire(cname, recorderUID)
	if st != http.StatusOK {
		t.Fatalf("acquire: %d %+v", st, acq)
	}
	st, started := c.start(acq.ResourceId, "individual", individualStart(d.key("media", cname, 527841), cname, nil, "bucket", !ts))
	if st != http.StatusOK {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 11, 0x1511, 0x1512)
	const seconds = 16
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, seconds)
	sentAt := time.Now()
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both playlists in the file list", 15*time.Second, func() bool {
		st, q := c.query(rid, sid)
		return st == http.StatusOK && len(q.ServerResponse.FileList) >= 2
	})
	time.Sleep(3 * time.Second)

	downAt := stop(d)
	d2 := restartDaemon(t, d)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	downtime := waitHealthy(wctx, d2).Sub(downAt)
	c2 := newAgoraClient(t, d2, appID)

	st, q := c2.query(rid, sid)
	if st != http.StatusOK || q.ServerResponse.Status != 5 || q.Sid != sid || len(q.ServerResponse.FileList) < 2 {
		t.Fatalf("query after the restart: %d %+v", st, q)
	}
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}
	sent := time.Since(sentAt)
	time.Sleep(500 * time.Millisecond)
	st, stopped := c2.stop(rid, sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop after the restart: %d %+v", st, stopped)
	}
	var playlists, mp4s int
	for _, f := range stopped.ServerResponse.FileList {
		path := filepath.Join(local, "bucket", filepath.FromSlash(f.FileName))
		if strings.HasSuffix(f.FileName, ".mp4") {
			mp4s++
			decodeSilently(t, path)
			continue
		}
		playlists++
		decodeSilently(t, path)
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// MPEG-TS playlists open with a discontinuity, as Agora's.
		want := 1
		if ts {
			want = 2
		}
		if n := strings.Count(string(text), "#EXT-X-DISCONTINUITY\n"); n != want {
			t.Errorf("%s: %d discontinuities, want %d (the restart)", f.FileName, n, want)
		}
		got := playlistSeconds(t, path)
		t.Logf("%s: %.2f s of %.2f s sent, downtime %v", filepath.Base(f.FileName), got, sent.Seconds(), downtime.Round(time.Millisecond))
		// What is missing: the downtime, the segment being written at a
		// kill (2 s segments) and, for video, up to the next keyframe
		// (1 s GOP).
		if lo := sent.Seconds() - downtime.Seconds() - 4; got < lo {
			t.Errorf("%s lasts %.2f s, want at least %.2f", f.FileName, got, lo)
		}
	}
	if wantMP4 := map[bool]int{true: 0, false: 2}[ts]; playlists != 2 || mp4s != wantMP4 {
		t.Errorf("%d playlists and %d MP4 files listed, want 2 and %d: %+v", playlists, mp4s, wantMP4, stopped.ServerResponse.FileList)
	}

	waitFor(t, "session_exit notification", 20*time.Second, func() bool { return hooks.has(sid, webhook.EventSessionExit) })
	evs := hooks.events(sid)
	var types []int
	seen := map[int]bool{}
	failover := 0
	for _, n := range evs {
		types = append(types, n.EventType)
		if seen[n.Payload.Sequence] {
			t.Errorf("sequence %d used twice", n.Payload.Sequence)
		}
		seen[n.Payload.Sequence] = true
		if n.EventType == webhook.EventSessionFailover {
			failover++
			if n.Payload.Details["reason"] != wantReason || n.Payload.Details["newUid"] != float64(527841) {
				t.Errorf("session_failover details %v, want reason %q", n.Payload.Details, wantReason)
			}
		}
	}
	t.Logf("events: %v", types)
	if failover != 1 {
		t.Errorf("%d session_failover events, want 1", failover)
	}
	if n := strings.Count(d2.out.String(), "cloud recording resumed"); n != 1 {
		t.Errorf("the restarted daemon logged %d resumed cloud recordings, want 1", n)
	}
	if v := d2.metric(`ars_state_cloud_recordings_resumed_total{outcome="resumed"}`); v != 1 {
		t.Errorf("ars_state_cloud_recordings_resumed_total{resumed} = %v", v)
	}
}

// TestCloudResumeAfterKill9: SIGKILL, then the same configuration again.
func TestCloudResumeAfterKill9(t *testing.T) {
	cloudResumeCase(t, func(d *daemon) time.Time { return d.kill9() }, "crash", false)
}

// TestCloudResumeTSAfterKill9: the same in Agora's MPEG-TS with AAC.
func TestCloudResumeTSAfterKill9(t *testing.T) {
	cloudResumeCase(t, func(d *daemon) time.Time { return d.kill9() }, "crash", true)
}

// TestCloudResumeAfterGracefulStop: SIGTERM suspends the recording (its
// playlists left open, the audio received so far encoded and written),
// the next start resumes it; in MPEG-TS with AAC.
func TestCloudResumeAfterGracefulStop(t *testing.T) {
	cloudResumeCase(t, func(d *daemon) time.Time {
		at := time.Now()
		d.signal(syscall.SIGTERM)
		if err, ok := d.waitExit(30 * time.Second); !ok || err != nil {
			t.Fatalf("graceful stop: %v (exited %v)", err, ok)
		}
		return at
	}, "restart", true)
}
