package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

// TestCloudMixResumeAfterKill9: a mix-mode cloud recording survives a
// kill -9. The restarted daemon answers for the same sid and runs a new
// composite whose files carry Agora's "bak0_" prefix (the playlist of the
// composite before the crash is ended and stays listed); both playlists
// and the new MP4 decode, and the new composite shows both senders. The
// MP4 the first composite was writing dies with its mixer (a crash; a
// graceful restart finalises it).
func TestCloudMixResumeAfterKill9(t *testing.T) {
	requireFFmpeg(t)
	const cname = "mixresume"
	localDir := t.TempDir()
	hooks := newHookReceiver(t)
	d := mixDaemon(t, localDir, "ARS_WEBHOOK_URL="+hooks.srv.URL, "ARS_WEBHOOK_SECRET="+webhookSecret)
	m := newMixRec(t, d, localDir, cname)
	a := d.joinRTP(cname, 41, 4101, 4102)
	b := d.joinRTP(cname, 42, 4201, 4202)
	m.start(m.body(&mixTranscodingConfig{Width: 640, Height: 360, FPS: 15, BitRate: 500, MixedVideoLayout: 1}, "hls", "mp4"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	send := func(seconds float64) {
		t.Helper()
		sa := sendColour(ctx, a.RTPPort, a.VideoSSRC, a.AudioSSRC, seconds, "red", 440)
		sb := sendColour(ctx, b.RTPPort, b.VideoSSRC, b.AudioSSRC, seconds, "blue", 1000)
		if err := sa.Start(); err != nil {
			t.Fatal(err)
		}
		if err := sb.Start(); err != nil {
			t.Fatal(err)
		}
		_ = sa.Wait()
		_ = sb.Wait()
	}
	send(5)
	time.Sleep(time.Second)
	d.kill9()
	d2 := restartDaemon(t, d)
	m.d, m.c = d2, newAgoraClient(t, d2, appID)
	if st, q := m.query(); st != http.StatusOK || q.ServerResponse.Status != 5 {
		t.Fatalf("query after the restart: %d %+v", st, q)
	}
	send(6)
	time.Sleep(time.Second)
	stopped := m.stop()
	list, ok := stopped.files()
	if !ok {
		t.Fatalf("stop: fileList %s", stopped.ServerResponse.FileList)
	}
	want := map[string]bool{
		"mix/" + m.sid + "_" + cname + ".m3u8": false, "mix/bak0_" + m.sid + "_" + cname + ".m3u8": false,
		"mix/bak0_" + m.sid + "_" + cname + "_0.mp4": false,
	}
	for _, f := range list {
		if _, ok := want[f.FileName]; ok {
			want[f.FileName] = true
		}
		decodeSilently(t, m.local(f.FileName))
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("%s not listed: %+v", name, list)
		}
	}
	for _, pl := range []string{"mix/" + m.sid + "_" + cname + ".m3u8", "mix/bak0_" + m.sid + "_" + cname + ".m3u8"} {
		secs := playlistSeconds(t, m.local(pl))
		t.Logf("%s: %.2f s", pl, secs)
		if secs < 1.5 {
			t.Errorf("%s lasts %.2f s", pl, secs)
		}
	}
	bak := m.local("mix/bak0_" + m.sid + "_" + cname + ".m3u8")
	const fps = 5
	frames := compositeFrames(t, bak, 640, 360, fps)
	// Resumed joins come back in no particular order: either side.
	mid := float64(len(frames)) / fps / 2
	if ok, _ := spotsMatch(frameAtTime(t, frames, fps, mid), 640, []spot{{"left", 160, 180, blue}, {"right", 480, 180, red}}); !ok {
		checkSpots(t, "both senders after the restart", frames, fps, 640, mid, []spot{
			{"left", 160, 180, red}, {"right", 480, 180, blue}})
	}
	waitFor(t, "session_exit", 20*time.Second, func() bool { return hooks.has(m.sid, webhook.EventSessionExit) })
	if !hooks.has(m.sid, webhook.EventSessionFailover) {
		t.Error("no session_failover event")
	}
	if strings.Count(d2.out.String(), "cloud recording resumed") != 1 {
		t.Error("the restarted daemon did not log the resume")
	}
}
