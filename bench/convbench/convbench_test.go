package convbench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
)

func media(t *testing.T) (loadgen.Media, loadgen.Tracks) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH (make test-deps installs it)")
	}
	m, err := loadgen.EnsureMedia(context.Background(), t.TempDir(), loadgen.MediaOptions{Duration: 4 * time.Second, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := loadgen.LoadTracks(m.Capture)
	if err != nil {
		t.Fatal(err)
	}
	return m, tr
}

func TestRunJudgesEveryTool(t *testing.T) {
	m, tr := media(t)
	tools, err := Run(context.Background(), Config{Media: m, Tracks: tr, WorkDir: t.TempDir(), Reps: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, janusErr := exec.LookPath("janus-pp-rec")
	for _, tl := range tools {
		if tl.Name == "janus-pp-rec (video + audio)" && janusErr != nil {
			if tl.Err == "" {
				t.Errorf("janus-pp-rec missing but no error reported")
			}
			continue
		}
		if tl.Err != "" || tl.Check != "ok" || tl.Runs != 1 {
			t.Errorf("%s: runs %d err %q check %q", tl.Name, tl.Runs, tl.Err, tl.Check)
		}
		if tl.MediaSeconds < 3.9 || tl.CPUSeconds <= 0 || tl.SpeedPerCore <= 0 {
			t.Errorf("%s: media %v s, cpu %v s, speed %v", tl.Name, tl.MediaSeconds, tl.CPUSeconds, tl.SpeedPerCore)
		}
	}
}

func TestCheckMP4FindsTruncation(t *testing.T) {
	m, _ := media(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-framerate", "25", "-i", m.VideoES, "-i", m.AudioES,
		"-map", "0:v", "-map", "1:a", "-c", "copy", good).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ctx := context.Background()
	if c := checkMP4(ctx, good, m.Duration, true, true); c != "ok" {
		t.Fatalf("good file: %s", c)
	}
	if c := checkMP4(ctx, good, 2*m.Duration, true, true); c == "ok" {
		t.Fatal("a file half the expected length passed")
	}
	b, _ := os.ReadFile(good)
	cut := filepath.Join(dir, "cut.mp4")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if c := checkMP4(ctx, cut, m.Duration, true, true); c == "ok" {
		t.Fatal("truncated file passed")
	}
}

func TestWriteMJR(t *testing.T) {
	_, tr := media(t)
	path := filepath.Join(t.TempDir(), "v.mjr")
	start := time.Unix(1700000000, 0)
	if err := WriteMJR(path, tr.Video, start); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "MJR00002" {
		t.Fatalf("magic %q", b[:8])
	}
	n := int(binary.BigEndian.Uint16(b[8:10]))
	var h mjrHeader
	if err := json.Unmarshal(b[10:10+n], &h); err != nil || h.Type != "v" || h.Codec != "h264" || h.First != start.UnixMicro() {
		t.Fatalf("header %+v %v", h, err)
	}
	rest := b[10+n:]
	for i, p := range tr.Video.Packets {
		if len(rest) < 10 || string(rest[:4]) != "MEET" {
			t.Fatalf("packet %d: no MEET", i)
		}
		if ms := binary.BigEndian.Uint32(rest[4:8]); ms != uint32(p.At/time.Millisecond) {
			t.Fatalf("packet %d: %d ms, want %d", i, ms, p.At/time.Millisecond)
		}
		l := int(binary.BigEndian.Uint16(rest[8:10]))
		if !bytes.Equal(rest[10:10+l], p.Data) {
			t.Fatalf("packet %d differs", i)
		}
		rest = rest[10+l:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the last packet", len(rest))
	}
}

// TestRunCodecsVP8 runs the codec comparison on two seconds of VP8: the
// capture converts, janus-pp-rec gets the same packets as a "vp8" .mjr,
// and every output is judged by decoding it and counting its frames.
func TestRunCodecsVP8(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH (make test-deps installs it)")
	}
	ctx := context.Background()
	o := loadgen.MediaOptions{Duration: 2 * time.Second, Width: 320, Height: 240, VideoKbps: 300, KeyframeSecs: 1}
	res, err := RunCodecs(ctx, CodecConfig{Media: o, Codecs: []string{"VP8"}, MediaDir: t.TempDir(), WorkDir: t.TempDir(),
		Rounds: 2, Reps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Media) != 1 {
		t.Fatalf("media %+v", res.Media)
	}
	m := res.Media[0]
	if m.Codec != "VP8" || m.Video.Info.Codec != "VP8" || m.Frames != 50 || m.Bitrate() <= 0 {
		t.Fatalf("media: codec %s/%s, %d frames, %.0f bit/s; want VP8, 50 frames", m.Codec, m.Video.Info.Codec, m.Frames, m.Bitrate())
	}
	_, janusErr := exec.LookPath("janus-pp-rec")
	for _, name := range []string{NameInProcess, NameJanus} {
		row := res.Row("VP8", name)
		if row == nil {
			t.Fatalf("no %s row", name)
		}
		if name == NameJanus && janusErr != nil {
			if row.Err == "" || row.Check == "ok" {
				t.Errorf("janus-pp-rec missing but row %+v", row)
			}
			continue
		}
		if row.Err != "" || row.Check != "ok" || len(row.Rounds) != 2 || row.Runs() != 2 {
			t.Errorf("%s: err %q check %q, %d rounds, %d runs", name, row.Err, row.Check, len(row.Rounds), row.Runs())
		}
		if row.MedianPerCore <= 0 || row.MinPerCore > row.MedianPerCore || row.MaxPerCore < row.MedianPerCore {
			t.Errorf("%s: median %v, range %v-%v", name, row.MedianPerCore, row.MinPerCore, row.MaxPerCore)
		}
	}
	md := res.Markdown(CodecReport{Machine: "test box"})
	for _, want := range []string{CodecSectionBegin, CodecSectionEnd, "| VP8 | ars transcode (in-process) | 2 x 1 |", "50 frames"} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}

	// The check must fail an output that is right but for its frame
	// count or codec, and the .mjr must name the codec as Janus does.
	out := res.Row("VP8", NameInProcess).Output
	if c := checkVideo(ctx, out, "VP8", m.Frames+1, m.Duration); !strings.Contains(c, fmt.Sprintf("%d of %d frames decoded (%d samples", m.Frames, m.Frames+1, m.Frames)) {
		t.Errorf("one frame short: check %q", c)
	}
	if c := checkVideo(ctx, out, "VP9", m.Frames, m.Duration); c == "ok" {
		t.Error("VP8 passed as VP9")
	}
	b, err := os.ReadFile(mjrPath(filepath.Dir(out)))
	if err != nil {
		t.Fatal(err)
	}
	var h mjrHeader
	if err := json.Unmarshal(b[10:10+int(binary.BigEndian.Uint16(b[8:10]))], &h); err != nil || h.Type != "v" || h.Codec != "vp8" {
		t.Fatalf("mjr header %+v %v", h, err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{7}, 7}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMJRCodecRefusesUnknown(t *testing.T) {
	if _, err := mjrCodec(storage.StreamInfo{Kind: "video", Codec: "H265"}); !errors.Is(err, ErrTool) {
		t.Fatalf("H265: %v, want ErrTool", err)
	}
}
