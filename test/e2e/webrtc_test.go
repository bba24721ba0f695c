package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateConsolePNG = flag.Bool("update", false, "rewrite docs/console.png from the console test's screenshot")

// webrtcWaitMP4s waits until dir holds n MP4s and no conversion is running.
func webrtcWaitMP4s(t *testing.T, dir string, n int) []string {
	t.Helper()
	var mp4s []string
	waitFor(t, fmt.Sprintf("%d MP4s in %s", n, dir), 90*time.Second, func() bool {
		mp4s, _ = filepath.Glob(filepath.Join(dir, "*.mp4"))
		busy, _ := filepath.Glob(filepath.Join(dir, "*.transcoding"))
		return len(mp4s) >= n && len(busy) == 0
	})
	return mp4s
}

// webrtcDecodeSilently runs `ffmpeg -v error -xerror -i F -f null -`, which
// must print nothing. (A browser's capture timestamps jitter; the
// transcoder's pacer keeps pictures one frame interval apart so that even
// ffmpeg's frame-rate-rounded output timing stays monotonic.)
func webrtcDecodeSilently(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ffmpeg decode of %s: %v\n%s", path, err, out)
	}
}

type webrtcProbeStream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	NbReadFrames string `json:"nb_read_frames"`
}

// checkWebRTCMP4 judges a recording with ffmpeg: it decodes silently and
// holds H.264 video and Opus audio with frames. It returns the duration.
func checkWebRTCMP4(t *testing.T, path string) (time.Duration, map[string]int) {
	t.Helper()
	webrtcDecodeSilently(t, path)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,nb_read_frames:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var probe struct {
		Streams []webrtcProbeStream `json:"streams"`
		Format  struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	frames := map[string]int{}
	codecs := map[string]string{}
	for _, s := range probe.Streams {
		n, _ := strconv.Atoi(s.NbReadFrames)
		frames[s.CodecType] += n
		codecs[s.CodecType] = s.CodecName
	}
	if codecs["video"] != "h264" || codecs["audio"] != "opus" || frames["video"] == 0 || frames["audio"] == 0 || len(probe.Streams) != 2 {
		t.Fatalf("%s: streams %+v", path, probe.Streams)
	}
	secs, err := strconv.ParseFloat(probe.Format.Duration, 64)
	if err != nil {
		t.Fatalf("%s: duration %q", path, probe.Format.Duration)
	}
	return time.Duration(secs * float64(time.Second)), frames
}

// TestWebRTCConsolePublish is the newcomer's story in a browser: a daemon
// in development mode, its console in Chromium minting keys, starting the
// recording, publishing the (fake) camera over WHIP for 8 seconds, then
// the MP4 the daemon converts on stop, judged by ffmpeg, and played back
// in the page through the console's signed URL.
func TestWebRTCConsolePublish(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	requireChromium(t)
	requireFFmpeg(t)
	d := startWebRTCDaemon(t, true)
	b := startBrowser(t)
	pg := b.newPage(d.base + "/")
	pg.waitJS("console ready", `document.body.dataset.ready === 'true'`, 20*time.Second)
	if mode := pg.str(`document.getElementById('mode').textContent`); !strings.Contains(mode, "development") {
		t.Fatalf("mode badge %q", mode)
	}
	const channel = "webrtc demo"
	pg.setValue("channel", channel)
	pg.setValue("uid", "7")
	pg.click("mint")
	pg.waitJS("minted keys", `document.getElementById('media-key').value.startsWith('004') && document.getElementById('recording-key').value.startsWith('004')`, 10*time.Second)

	pg.click("start")
	waitFor(t, "recording to start", 10*time.Second, func() bool { return d.status(channel).Recording })
	dir := d.status(channel).Directory

	pg.click("publish")
	pg.waitJS("publishing live", `document.getElementById('publish-status').dataset.state === 'live'`, 30*time.Second)
	t0 := time.Now()
	if st := d.status(channel); len(st.Users) != 1 || st.Users[0].UID != 7 {
		t.Fatalf("status while publishing: %+v", st)
	}
	pg.waitJS("channel row shows the publisher", `[...document.querySelectorAll('#channels tbody tr')].some(r => r.dataset.channel === 'webrtc demo' && r.textContent.includes('uid 7 · webrtc'))`, 10*time.Second)

	time.Sleep(4 * time.Second)
	shot := pg.screenshot()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() != 1200 {
		t.Fatalf("screenshot: %v %v", err, img.Bounds())
	}
	if *updateConsolePNG {
		if err := os.WriteFile(filepath.Join(repoRoot(), "docs", "console.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("docs/console.png updated (%d bytes)", len(shot))
	}

	time.Sleep(time.Until(t0.Add(8 * time.Second)))
	pg.click("unpublish")
	published := time.Since(t0)
	pg.waitJS("publishing stopped", `document.getElementById('publish-status').dataset.state === 'idle'`, 10*time.Second)
	// The only participant left, so the recording ends and converts.
	waitFor(t, "recording to stop", 15*time.Second, func() bool { return !d.status(channel).Recording })
	mp4s := webrtcWaitMP4s(t, dir, 1)
	if len(mp4s) != 1 || !strings.HasPrefix(filepath.Base(mp4s[0]), "7_") {
		t.Fatalf("MP4s %v", mp4s)
	}
	duration, frames := checkWebRTCMP4(t, mp4s[0])
	if diff := duration - published; math.Abs(diff.Seconds()) > 1 {
		t.Fatalf("MP4 lasts %v, published for %v", duration, published)
	}
	t.Logf("published %v, MP4 %v, video %d frames, audio %d frames", published.Round(time.Millisecond), duration, frames["video"], frames["audio"])

	// The console lists the recording and plays it through a signed URL.
	pg.click("list")
	pg.waitJS("recording listed", `document.querySelector('#recordings button[data-url]') !== null`, 10*time.Second)
	fileURL := pg.str(`document.querySelector('#recordings button[data-url]').dataset.url`)
	resp, err := http.Get(d.base + fileURL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	onDisk, _ := os.ReadFile(mp4s[0])
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(served, onDisk) {
		t.Fatalf("signed URL: %d %s, %d bytes served of %d", resp.StatusCode, resp.Header.Get("Content-Type"), len(served), len(onDisk))
	}
	u, _ := url.Parse(fileURL)
	q := u.Query()
	q.Set("path", strings.Replace(q.Get("path"), "7_", "8_", 1))
	if code := d.call("GET", u.Path+"?"+q.Encode(), nil, nil); code != http.StatusForbidden {
		t.Fatalf("altered signed URL: %d", code)
	}
	pg.must(`document.querySelector('#recordings button[data-url]').click()`)
	pg.waitJS("player to load the MP4", `(() => { const v = document.getElementById('player'); return v.readyState >= 1 && v.duration > 6; })()`, 20*time.Second)
}

// TestWebRTCBadKeyAndTwoPublishers: a wrong media key is refused with 401
// (to the page and to a plain WHIP client), and two tabs publishing as
// two uids of one channel give two captures and two MP4s.
func TestWebRTCBadKeyAndTwoPublishers(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	requireChromium(t)
	requireFFmpeg(t)
	d := startWebRTCDaemon(t, false)
	const channel = "duo"

	req, _ := http.NewRequest("POST", d.base+"/v1/whip?channel="+channel+"&uid=1", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer 004not-a-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "invalid_key" {
		t.Fatalf("bad key over plain HTTP: %d %+v", resp.StatusCode, e)
	}

	b := startBrowser(t)
	tabs := []*tab{b.newPage(d.base + "/"), b.newPage(d.base + "/")}
	for i, pg := range tabs {
		pg.waitJS("console ready", `document.body.dataset.ready === 'true'`, 20*time.Second)
		pg.setValue("channel", channel)
		pg.setValue("uid", fmt.Sprint(i+1))
	}
	tabs[0].setValue("media-key", d.key("media", channel, 2)) // a real key, for another uid
	tabs[0].click("publish")
	tabs[0].waitJS("refusal", `document.getElementById('publish-status').dataset.state === 'error'`, 20*time.Second)
	if got := tabs[0].str(`document.getElementById('publish-status').dataset.status + ' ' + document.getElementById('publish-status').dataset.code`); got != "401 invalid_key" {
		t.Fatalf("page refusal: %q", got)
	}
	if st := d.status(channel); len(st.Users) != 0 {
		t.Fatalf("refused publisher joined: %+v", st)
	}

	start := d.startRecording(channel, 1, "two tabs")
	for i, pg := range tabs {
		pg.setValue("media-key", d.key("media", channel, uint32(i+1)))
		pg.click("publish")
	}
	for _, pg := range tabs {
		pg.waitJS("publishing live", `document.getElementById('publish-status').dataset.state === 'live'`, 30*time.Second)
	}
	time.Sleep(3 * time.Second)
	st := d.status(channel)
	if !st.Recording || len(st.Users) != 2 || st.Users[0].File == "" || st.Users[1].File == "" {
		t.Fatalf("status with two publishers: %+v", st)
	}
	for _, pg := range tabs {
		pg.click("unpublish")
	}
	waitFor(t, "recording to stop", 15*time.Second, func() bool { return !d.status(channel).Recording })
	captures, _ := filepath.Glob(filepath.Join(start.Directory, "*.tmp"))
	if len(captures) != 2 {
		t.Fatalf("captures %v", captures)
	}
	uids := map[string]bool{}
	for _, m := range webrtcWaitMP4s(t, start.Directory, 2) {
		uids[strings.SplitN(filepath.Base(m), "_", 2)[0]] = true
		checkWebRTCMP4(t, m)
	}
	if !uids["1"] || !uids["2"] {
		t.Fatalf("MP4s of uids %v, want 1 and 2", uids)
	}
}
