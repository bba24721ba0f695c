package transcode

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

const playPage = `<html><body><video id="v" muted></video><script>
const v = document.getElementById('v');
function say(s) { console.log('PLAYCHK ' + s); }
v.onerror = () => say('ERROR ' + (v.error && v.error.code) + ' ' + (v.error && v.error.message));
v.onended = () => say('ENDED frames=' + v.getVideoPlaybackQuality().totalVideoFrames + ' audio=' + v.webkitAudioDecodedByteCount);
v.src = location.hash.slice(1); v.playbackRate = 4;
v.play().catch(e => say('ERROR play ' + e));
</script></body></html>`

var playResult = regexp.MustCompile(`PLAYCHK (ENDED frames=(\d+) audio=(\d+)|ERROR[^"]*)`)

// TestChromiumPlays plays converted files in headless Chromium, the
// browser users open recordings in, and checks it decodes every picture
// and the audio. Chromium is optional on a developer machine.
func TestChromiumPlays(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH (apt-get install chromium)")
	}
	v, a := clean(t)
	big := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, Video: true, GOP: 25})[0]
	small := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, Video: true, GOP: 25, Width: 160, Height: 120})[0]
	keys := v.KeyframeIndexes()
	cases := []struct {
		name    string
		streams []testmedia.Stream
		frames  int
	}{
		{"clean", []testmedia.Stream{v, a}, v.Frames()},
		{"resolution change", []testmedia.Stream{testmedia.Concat(big, small, 0), a}, big.Frames() + small.Frames()},
		{"late keyframe with edit list", []testmedia.Stream{testmedia.Slice(v, keys[1]-3, len(v.Packets)), a}, v.FramesFrom(keys[1])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "1.tmp")
			testmedia.WriteCapture(t, src, storage.Header{}, tc.streams)
			if _, err := ConvertFile(context.Background(), src, filepath.Join(dir, "out.mp4")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "play.html"), []byte(playPage), 0o644); err != nil {
				t.Fatal(err)
			}
			line := play(t, chromium, dir)
			m := playResult.FindStringSubmatch(line)
			if m == nil || m[2] == "" {
				t.Fatalf("chromium: %q", line)
			}
			frames, _ := strconv.Atoi(m[2])
			audio, _ := strconv.Atoi(m[3])
			if frames != tc.frames || audio == 0 {
				t.Errorf("chromium decoded %d pictures and %d audio bytes, want %d pictures and audio", frames, audio, tc.frames)
			}
		})
	}
}

// play opens dir/play.html#out.mp4 and returns the page's verdict line.
func play(t *testing.T, chromium, dir string) string {
	t.Helper()
	cmd := exec.Command(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--autoplay-policy=no-user-gesture-required", "--enable-logging=stderr", "--v=0",
		"file://"+filepath.Join(dir, "play.html")+"#out.mp4")
	// Its own process group, so the browser's helpers go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := playResult.FindString(sc.Text()); m != "" {
				found <- m
				return
			}
		}
		found <- ""
	}()
	select {
	case line := <-found:
		return line
	case <-time.After(45 * time.Second):
		t.Fatal("chromium did not finish playing within 45 s")
		return ""
	}
}
