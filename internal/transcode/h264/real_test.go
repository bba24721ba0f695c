package h264_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/transcode/h264"
)

// TestRealStream depacketizes what libx264 and ffmpeg's RTP packetizer
// produced and has ffmpeg decode the result: every picture must come
// back, without a decode error.
func TestRealStream(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, zl := range []bool{false, true} {
		t.Run("zerolatency="+strconv.FormatBool(zl), func(t *testing.T) {
			v := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, Video: true, ZeroLatency: zl})[0]
			var d h264.Depacketizer
			var annexB bytes.Buffer
			for i, p := range v.Packets {
				hl := 12 + 4*int(p.Data[0]&0x0f)
				err := d.Push(p.Data[hl:], func(n []byte) {
					annexB.Write([]byte{0, 0, 0, 1})
					annexB.Write(n)
				})
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
			}
			path := filepath.Join(t.TempDir(), "out.h264")
			if err := os.WriteFile(path, annexB.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
				"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			if got, want := strings.TrimSpace(string(out)), strconv.Itoa(v.Frames()); got != want {
				t.Errorf("decoded %s pictures, sent %s", got, want)
			}
			testmedia.Decode(t, path)
		})
	}
}
