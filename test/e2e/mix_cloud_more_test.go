package e2e

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// TestCloudMixMP4Split: with ARS_CLOUD_MIX_MP4_MAX_DURATION=5s a 13 s mix
// recording with avFileType ["hls","mp4"] is listed as the playlist and
// MP4s _0, _1, _2 ..., each a decodable H.264 + AAC file of at most ~5 s
// showing both senders, together as long as the HLS composite.
func TestCloudMixMP4Split(t *testing.T) {
	requireFFmpeg(t)
	const w, h, secs = 320, 240, 13.0
	localDir := t.TempDir()
	d := mixDaemon(t, localDir, "ARS_CLOUD_MIX_MP4_MAX_DURATION=5s")
	m := newMixRec(t, d, localDir, "mixsplit")
	m.start(m.body(&mixTranscodingConfig{Width: w, Height: h, FPS: 15, BitRate: 400, MixedVideoLayout: 1}, "hls", "mp4"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := sendColourAs(t, ctx, d, m.cname, 121, "red", 440, secs)
	b := sendColourAs(t, ctx, d, m.cname, 122, "blue", 1000, secs)
	a.wait(t)
	b.wait(t)
	stop := m.stop()
	list, ok := stop.files()
	if !ok || stop.ServerResponse.FileListMode != "json" {
		t.Fatalf("stop: %+v (%s)", stop, stop.ServerResponse.FileList)
	}
	var mp4s []string
	for _, f := range list {
		if strings.HasSuffix(f.FileName, ".mp4") {
			mp4s = append(mp4s, f.FileName)
		}
	}
	if len(mp4s) < 3 {
		t.Fatalf("MP4s %v: a 13 s recording split every 5 s makes at least 3", mp4s)
	}
	hlsSecs := playlistSeconds(t, m.local(stop.playlist()))
	total := 0.0
	for i, name := range mp4s {
		if want := "mix/" + m.sid + "_" + m.cname + "_" + string(rune('0'+i)) + ".mp4"; name != want {
			t.Errorf("MP4 %d is %s, want %s", i, name, want)
		}
		path := m.local(name)
		decodeSilently(t, path)
		checkAVStreams(t, path, w, h)
		p := testmedia.ProbeMP4(t, path)
		total += p.Duration.Seconds()
		if p.Duration.Seconds() > 6 {
			t.Errorf("%s lasts %v, over the 5 s split", name, p.Duration)
		}
		// _0 starts before both senders are in; the middle ones are.
		if i > 0 && p.Duration.Seconds() > 2 {
			img := testmedia.RGBFrameAt(t, path, p.Duration/2, w, h)
			checkSpots(t, name, [][]byte{img}, 1, w, 0, []spot{{"left", w / 4, h / 2, red}, {"right", 3 * w / 4, h / 2, blue}})
		}
	}
	t.Logf("MP4s %v: %.2f s together, HLS %.2f s", mp4s, total, hlsSecs)
	if total < hlsSecs-1 || total > hlsSecs+1 {
		t.Errorf("the MP4s last %.2f s together, the HLS composite %.2f s", total, hlsSecs)
	}
}

// TestCloudMixNoVideoYet: a participant whose video is announced but who
// sends only sound has its window in the best-fit grid, showing the
// background colour, and is heard.
func TestCloudMixNoVideoYet(t *testing.T) {
	requireFFmpeg(t)
	const w, h, secs = 320, 240, 7.0
	localDir := t.TempDir()
	d := mixDaemon(t, localDir)
	m := newMixRec(t, d, localDir, "mixnovideo")
	m.start(m.body(&mixTranscodingConfig{Width: w, Height: h, FPS: 15, BitRate: 400, MixedVideoLayout: 1, BackgroundColor: "#00FF00"}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := sendColourAs(t, ctx, d, m.cname, 131, "red", 440, secs)
	// uid 132 joins with H.264 and Opus streams but sends only Opus.
	p := d.joinRTP(m.cname, 132, 132<<8|1, 132<<8|2)
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", p.RTPPort, p.RTPPort)
	voice := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-t", strconv.FormatFloat(secs, 'f', 1, 64),
		"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(p.AudioSSRC), 10), "-payload_type", "111", url)
	voice.Stdout = io.Discard
	if err := voice.Start(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	a.wait(t)
	if err := voice.Wait(); err != nil {
		t.Fatalf("audio sender: %v", err)
	}
	stop := m.stop()
	pl := m.local(stop.playlist())
	decodeSilently(t, pl)
	tl := m.timeline(pl)
	mid := tl.at(began) + secs/2
	frames := compositeFrames(t, pl, w, h, 5)
	checkSpots(t, "red beside a window without video", frames, 5, w, mid, []spot{{"left", w / 4, h / 2, red}, {"right (background)", 3 * w / 4, h / 2, rgb{0, 255, 0}}})
	pcm := testmedia.DecodeMono(t, "-i", pl)
	checkTones(t, "both heard", pcm, mid-1.5, mid+1.5, []tone{redTone, {"voice", 1000}}, nil)
}
