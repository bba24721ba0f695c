package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testfs"
	"github.com/ars-project/ars/internal/webhook"
)

// fullStopAnswer is stop's answer with ars's lostFiles extension.
type fullStopAnswer struct {
	errAnswer
	ServerResponse struct {
		FileList        []cloudFile `json:"fileList"`
		UploadingStatus string      `json:"uploadingStatus"`
		LostFiles       []struct {
			FileName string `json:"fileName"`
		} `json:"lostFiles"`
	} `json:"serverResponse"`
}

// splitAtGap writes the parts of an HLS playlist before and after its
// first EXT-X-DISCONTINUITY as two playlists next to it.
func splitAtGap(t *testing.T, path string) (before, after string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var head, part [2][]string
	cur := -1
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		switch {
		case line == "#EXT-X-ENDLIST":
		case line == "#EXT-X-DISCONTINUITY":
			// MPEG-TS playlists (Agora's form) open with one: the gap is
			// the one after media.
			if cur >= 0 {
				cur = 1
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			if cur < 0 {
				cur = 0
			}
			part[cur] = append(part[cur], line)
		case !strings.HasPrefix(line, "#") || strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME"):
			if cur >= 0 {
				part[cur] = append(part[cur], line)
			}
		default:
			head[0] = append(head[0], line)
		}
	}
	if len(part[0]) == 0 || len(part[1]) == 0 {
		t.Fatalf("%s has no media on both sides of a discontinuity:\n%s", path, b)
	}
	out := [2]string{strings.TrimSuffix(path, ".m3u8") + "_before.m3u8", strings.TrimSuffix(path, ".m3u8") + "_after.m3u8"}
	for i := range out {
		text := strings.Join(append(append(head[0], part[i]...), "#EXT-X-ENDLIST"), "\n") + "\n"
		if err := os.WriteFile(out[i], []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

// frames counts the decoded frames of a playlist's first stream.
func frames(t *testing.T, path string) int {
	t.Helper()
	return framesOf(t, path, "0")
}

// framesOf counts the decoded frames of the stream ffprobe's selector
// names ("0": the first, "v:0": the first video stream).
func framesOf(t *testing.T, path, stream string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-count_frames", "-show_entries", "stream=nb_read_frames",
		"-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v %s", path, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

// TestCloudRecordingDiskFull: a cloud recording (individual mode, HLS,
// local storage) whose working directory, upload backups and webhook
// queue (ARS_STATE_DIR) are on an 8 MiB tmpfs. The tmpfs fills while
// ffmpeg sends: query answers status 20 and event 1 reports the failure.
// Space returns: the tracks write again (event 42 with discontinueUtcMs,
// query 5). After stop the playlists decode without a message, have
// frames before and after the gap, and the stop answer's uploadingStatus
// matches what storage really holds.
func TestCloudRecordingDiskFull(t *testing.T) {
	requireFFmpeg(t)
	state := testfs.Small(t, "size=8m,mode=0750")
	local := t.TempDir()
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks, "ARS_CLOUD_STORAGE=local", "ARS_CLOUD_LOCAL_DIR="+local, "ARS_STATE_DIR="+state)
	c := newAgoraClient(t, d, appID)
	const cname = "fullroom"

	_, acq := c.acquire(cname, recorderUID)
	st, started := c.start(acq.ResourceId, "individual", individualStart(d.key("media", cname, 527841), cname, nil, "fullbucket", false))
	if st != http.StatusOK {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid
	status := func() int {
		st, q := c.query(rid, sid)
		if st != http.StatusOK {
			t.Fatalf("query: %d %+v", st, q)
		}
		return q.ServerResponse.Status
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 61, 0x6161, 0x6162)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 24)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two segments per track", 15*time.Second, func() bool {
		segs, _ := filepath.Glob(filepath.Join(local, "fullbucket", "rec", "day1", "*.ts"))
		return len(segs) >= 4
	})
	if s := status(); s != 5 {
		t.Fatalf("query status %d while recording", s)
	}

	filler := testfs.Fill(t, state)
	full := time.Now()
	waitFor(t, "query status 20 on a full disk", 10*time.Second, func() bool { return status() == 20 })
	waitFor(t, "event 1 from the recorder", 10*time.Second, func() bool {
		for _, n := range hooks.events(sid) {
			if n.EventType == webhook.EventError && n.Payload.Details["module"] == float64(0) {
				return true
			}
		}
		return false
	})
	if v := d.metric("ars_cloud_tracks_failing"); v < 1 {
		t.Errorf("ars_cloud_tracks_failing %v on a full disk", v)
	}
	if !d.healthy() {
		t.Fatal("API not healthy on a full disk")
	}
	time.Sleep(6*time.Second - time.Since(full)) // past a retry on the full disk
	if s := status(); s != 20 {
		t.Errorf("query status %d while the disk is still full", s)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitFor(t, "query status 5 once space returned", 15*time.Second, func() bool { return status() == 5 })
	t.Logf("full for %v, writing again %v after space returned", freed.Sub(full).Round(time.Millisecond), time.Since(freed).Round(time.Millisecond))
	if v := d.metric("ars_cloud_tracks_failing"); v != 0 {
		t.Errorf("ars_cloud_tracks_failing %v after recovery", v)
	}
	if v := d.metric("ars_cloud_write_errors_total"); v < 2 {
		t.Errorf("ars_cloud_write_errors_total %v", v)
	}
	if err := send.Wait(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}

	var stopped fullStopAnswer
	if st := c.do("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/stop",
		&stopReqBody{Cname: cname, Uid: recorderUID, ClientRequest: &stopClientRequest{}}, &stopped); st != http.StatusOK {
		t.Fatalf("stop: %d %+v", st, stopped)
	}
	sr := stopped.ServerResponse
	if len(sr.FileList) != 2 {
		t.Fatalf("stop file list: %+v", sr)
	}
	// Honest: "uploaded" only if every file of every playlist is stored;
	// otherwise "unknown" with the missing files named.
	missing := 0
	for _, f := range sr.FileList {
		pl := filepath.Join(local, "fullbucket", f.FileName)
		b, err := os.ReadFile(pl)
		if err != nil {
			t.Fatalf("playlist %s not stored: %v", f.FileName, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(line, ".ts") || strings.HasPrefix(line, "#EXT-X-MAP:") {
				name := strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`)
				if _, err := os.Stat(filepath.Join(filepath.Dir(pl), name)); err != nil {
					missing++
					t.Logf("%s names %s, not stored", f.FileName, name)
				}
			}
		}
	}
	switch {
	case sr.UploadingStatus == "uploaded" && missing == 0 && len(sr.LostFiles) == 0:
	case sr.UploadingStatus == "unknown" && len(sr.LostFiles) > 0:
	default:
		t.Errorf("stop says %q with lost files %v, %d referenced files not stored", sr.UploadingStatus, sr.LostFiles, missing)
	}

	for _, f := range sr.FileList {
		pl := filepath.Join(local, "fullbucket", f.FileName)
		decodeSilently(t, pl)
		b, _ := os.ReadFile(pl)
		// One before the first segment (Agora's MPEG-TS form), one at the gap.
		if n := strings.Count(string(b), "#EXT-X-DISCONTINUITY\n"); n != 2 {
			t.Errorf("%s: %d discontinuities, want 2 (the start and one gap)", f.FileName, n)
		}
		before, after := splitAtGap(t, pl)
		decodeSilently(t, before)
		decodeSilently(t, after)
		nb, na, all := frames(t, before), frames(t, after), frames(t, pl)
		// AAC frames of 1024 samples at 48 kHz; 25 fps video.
		rate := map[string]int{"audio": 47, "video": 25}[f.TrackType]
		// 24 s sent, about 6 s on a full disk (plus a retry pause and, for
		// video, the wait for a keyframe).
		if nb < 3*rate || na < 3*rate || nb+na != all || all > 22*rate {
			t.Errorf("%s: %d frames before the gap, %d after, %d in all", f.FileName, nb, na, all)
		}
		t.Logf("%s: %d frames before the gap, %d after (%.1f s of 24 recorded)", f.TrackType, nb, na, float64(all)/float64(rate))
	}

	waitFor(t, "session_exit notification", 20*time.Second, func() bool { return hooks.has(sid, webhook.EventSessionExit) })
	resumed := 0
	for _, n := range hooks.events(sid) {
		dt := n.Payload.Details
		if n.EventType == webhook.EventRecorderSliceStart && dt["startUtcMs"].(float64) > dt["discontinueUtcMs"].(float64) {
			resumed++
			t.Logf("resumed: gap %v", time.Duration(dt["startUtcMs"].(float64)-dt["discontinueUtcMs"].(float64))*time.Millisecond)
		}
	}
	if resumed != 2 {
		t.Errorf("%d tracks reported resuming (event 42 with discontinueUtcMs), want 2", resumed)
	}
	checkEventOrder(t, hooks.events(sid), webhook.EventUploaded)
}
