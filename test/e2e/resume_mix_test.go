package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMixedRecordingResume: a "mixed": true recording survives a kill -9
// of the daemon: the restarted daemon resumes the recording and starts
// its composite again, into a new mixed_HHMMSS.mp4 in the same directory,
// which decodes with both participants side by side.
func TestMixedRecordingResume(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const ch = "mixresume"
	a := d.joinRTP(ch, 11, 1101, 1102)
	b := d.joinRTP(ch, 12, 1201, 1202)
	var ans struct {
		startAnswer
		MixedFile string `json:"mixedFile"`
	}
	code := d.call("POST", "/v1/recording/start", map[string]any{"channel": ch, "uid": 11,
		"key": d.key("recording", ch, 11), "mixed": true}, &ans)
	if code != http.StatusOK || !strings.HasPrefix(ans.MixedFile, "mixed_") {
		t.Fatalf("start: %d %+v", code, ans)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Separate senders before and after the restart: ffmpeg ends on the
	// ICMP errors of a port nobody holds.
	send := func(seconds float64) (func(), error) {
		sa := sendColour(ctx, a.RTPPort, a.VideoSSRC, a.AudioSSRC, seconds, "red", 440)
		sb := sendColour(ctx, b.RTPPort, b.VideoSSRC, b.AudioSSRC, seconds, "blue", 1000)
		if err := sa.Start(); err != nil {
			return nil, err
		}
		if err := sb.Start(); err != nil {
			return nil, err
		}
		return func() { _ = sa.Wait(); _ = sb.Wait() }, nil
	}
	wait, err := send(5)
	if err != nil {
		t.Fatal(err)
	}
	wait()
	d.kill9()
	d2 := restartDaemon(t, d)
	if st := d2.status(ch); !st.Recording || st.Directory != ans.Directory {
		t.Fatalf("after the restart: %+v", st)
	}
	waitFor(t, "the composite to resume", 10*time.Second, func() bool { return strings.Contains(d2.out.String(), "live composite resumed") })
	// The composite the kill cut short is there under its name and plays
	// up to its last whole fragment (mp4mux writes one a second while
	// live): of the 5 s sent, at least 1 s at 15 fps.
	cut := filepath.Join(ans.Directory, ans.MixedFile)
	decodesCleanly(t, cut)
	if n := framesOf(t, cut, "v:0"); n < 15 {
		t.Errorf("the composite cut by the kill holds %d video frames, want at least 15", n)
	} else {
		t.Logf("the composite cut by the kill holds %d video frames (%.1f s)", n, float64(n)/15)
	}
	wait, err = send(5)
	if err != nil {
		t.Fatal(err)
	}
	wait()
	if code := d2.call("POST", "/v1/recording/stop", map[string]any{"channel": ch, "uid": 11, "key": d2.key("recording", ch, 11)}, nil); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	var resumed string
	for _, f := range findFiles(t, ans.Directory, ".mp4") {
		if base := filepath.Base(f); strings.HasPrefix(base, "mixed_") && base != ans.MixedFile {
			resumed = f
		}
	}
	if resumed == "" {
		t.Fatalf("no composite after the restart in %s: %v", ans.Directory, findFiles(t, ans.Directory, ".mp4"))
	}
	decodesCleanly(t, resumed)
	order := redBlue
	if firstJoined(d2.out.String()) == "12" {
		order = blueRed
	}
	checkSideBySide(t, resumed, 3, true, order)
}
