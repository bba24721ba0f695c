package testmedia

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ars-project/ars/internal/ogg"
)

// OpusPackets encodes the lavfi audio source src (e.g. "sine=f=440:d=5")
// with ffmpeg's libopus, 20 ms frames, channels channels, and returns the
// Opus packets as an RTP sender would send them (the Ogg OpusHead and
// OpusTags headers left out), one every 20 ms.
func OpusPackets(t testing.TB, src string, channels int) [][]byte {
	t.Helper()
	RequireFFmpeg(t)
	path := filepath.Join(t.TempDir(), "opus.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-ac", fmt.Sprint(channels), "-ar", "48000",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-application", "audio", "-y", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg opus: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := ogg.Packets(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) || !bytes.HasPrefix(pkts[1], []byte("OpusTags")) {
		t.Fatalf("%s: no Opus stream (%d packets)", path, len(pkts))
	}
	return pkts[2:]
}
