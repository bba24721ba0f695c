package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// checkConverted waits for the daemon's transcode-on-stop to put a valid
// MP4 beside every capture and judges each with ffmpeg and ffprobe.
func checkConverted(t *testing.T, captures []string) {
	t.Helper()
	for _, c := range captures {
		mp4 := strings.TrimSuffix(c, ".tmp") + ".mp4"
		waitFor(t, mp4, 60*time.Second, func() bool { _, err := os.Stat(mp4); return err == nil })
		out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", mp4, "-f", "null", "-").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) != 0 {
			t.Errorf("%s does not decode cleanly: %v\n%s", mp4, err, out)
		}
		probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", mp4).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", mp4, err)
		}
		codecs := strings.Fields(string(probe))
		if !contains(codecs, "h264") || !contains(codecs, "opus") {
			t.Errorf("%s: codecs %v, want h264 and opus", mp4, codecs)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
