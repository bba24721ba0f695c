package transcode

import (
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestConvertStartOffsets converts one stream with its video starting at
// offsets across a whole frame interval after the audio. ffmpeg times its
// output by the frame rate the SPS declares, so wherever the video track
// starts in the movie, every picture must get a tick of its own (the
// literal `ffmpeg -v error -xerror -i F -f null -` check prints nothing),
// and a sender that keeps its declared rate must keep its timing exactly.
func TestConvertStartOffsets(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, fps := range []int{25, 30, 50} {
		s := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, FPS: fps, GOP: fps})
		v, a := s[0], s[1]
		frame := v.FrameDuration()
		for i := range 10 {
			off := frame * time.Duration(i) / 10
			t.Run(fmt.Sprintf("%d fps, video %v late", fps, off), func(t *testing.T) {
				dir := t.TempDir()
				src := filepath.Join(dir, "7_120000.tmp")
				testmedia.WriteCapture(t, src, storage.Header{}, []testmedia.Stream{testmedia.Shift(v, off), a})
				dst := filepath.Join(dir, "7_120000.mp4")
				if _, err := ConvertFile(context.Background(), src, dst); err != nil {
					t.Fatal(err)
				}
				testmedia.Decode(t, dst)
				got := videoPTS(t, dst)
				want := rtpTimes(v)
				if len(got) != len(want) {
					t.Fatalf("%d pictures in the file, %d sent", len(got), len(want))
				}
				for i := range got {
					if got[i]-got[0] != want[i]-want[0] {
						t.Fatalf("picture %d at %d ticks after the first, sent at %d", i, got[i]-got[0], want[i]-want[0])
					}
				}
			})
		}
	}
}

// videoPTS lists the presentation times of a file's video packets in its
// 90 kHz time base.
func videoPTS(t *testing.T, path string) []int64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	var pts []int64
	for _, line := range strings.Fields(string(out)) {
		p, err := strconv.ParseInt(strings.TrimSuffix(line, ","), 10, 64)
		if err != nil {
			t.Fatalf("ffprobe pts %q: %v", line, err)
		}
		pts = append(pts, p)
	}
	return pts
}

// rtpTimes lists the distinct RTP timestamps of a stream's pictures, in
// sending order.
func rtpTimes(s testmedia.Stream) []int64 {
	var ts []int64
	for i, p := range s.Packets {
		v := int64(binary.BigEndian.Uint32(p.Data[4:]))
		if i == 0 || v != ts[len(ts)-1] {
			ts = append(ts, v)
		}
	}
	return ts
}
