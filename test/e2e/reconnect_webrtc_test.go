package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// TestWebRTCPublisherReconnect: Chromium publishes through ars-publish.js
// into a recording channel; the daemon is killed (kill -9) and started
// again with the same configuration. The page notices the dead connection
// and publishes again by itself with the same key; the recording, resumed
// by the new daemon, gets a second capture of the uid, and both convert to
// MP4s with video.
func TestWebRTCPublisherReconnect(t *testing.T) {
	requireFFmpeg(t)
	requireChromium(t)
	d := startDaemon(t, "ARS_WEBRTC_PORT="+strconv.Itoa(freeICEPort(t)), "ARS_KEYFRAME_INTERVAL=1s")
	const ch, uid = "republish", 7
	a := d.startRecording(ch, 1, "")
	b := startBrowser(t)
	pg := b.publish(d, ch, uid)
	hasFile := func(d *daemon) bool {
		for _, u := range d.status(ch).Users {
			if u.UID == uid && u.File != "" {
				return true
			}
		}
		return false
	}
	waitFor(t, "the publisher's capture", 15*time.Second, func() bool { return hasFile(d) })
	time.Sleep(3 * time.Second)
	killedAt := d.kill9()
	d2 := restartDaemon(t, d)
	pg.waitJS("the page reconnecting by itself", `document.getElementById('publish-status').textContent.includes('reconnected')`, 60*time.Second)
	t.Logf("the page was live again %v after the kill", time.Since(killedAt).Round(100*time.Millisecond))
	waitFor(t, "a capture after the reconnection", 15*time.Second, func() bool { return hasFile(d2) })
	time.Sleep(3 * time.Second)
	pg.click("unpublish")
	pg.waitJS("publishing stopped", `document.getElementById('publish-status').dataset.state === 'idle'`, 10*time.Second)
	d2.stopRecording(ch, 1)

	var mine []string
	for _, c := range findFiles(t, a.Directory, storage.CaptureExt) {
		if strings.HasPrefix(filepath.Base(c), "7_") {
			mine = append(mine, c)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("captures of uid 7: %v, want two (before the kill and after the reconnection)", mine)
	}
	if out, err := transcoder(t, "--once", "--root", d.root); err != nil {
		t.Fatalf("transcoder: %v\n%s", err, out)
	}
	for _, c := range mine {
		mp4 := strings.TrimSuffix(c, storage.CaptureExt) + ".mp4"
		decodesCleanly(t, mp4)
		if n := framesOf(t, mp4, "v:0"); n < 15 {
			t.Errorf("%s: %d video frames, want a picture", filepath.Base(mp4), n)
		}
	}
}
