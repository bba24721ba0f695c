package mixer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

var recStart = time.Date(2026, 12, 3, 7, 8, 9, 0, time.UTC)

// recording writes captures for uid → streams into a new directory.
func recording(t *testing.T, caps map[uint32][]testmedia.Stream) string {
	t.Helper()
	dir := t.TempDir()
	for uid, s := range caps {
		testmedia.WriteCapture(t, filepath.Join(dir, strconv.Itoa(int(uid))+"_070809.tmp"), storage.Header{Version: storage.FormatVersion,
			Channel: "class", UID: uid, Start: recStart}, s)
	}
	return dir
}

// run starts Run in this process on pipes and returns its stdin writer,
// a function collecting its frames and error at the end.
func start(t *testing.T, ctx context.Context) (*mixproto.Writer, io.Closer, func() ([]mixproto.Frame, error)) {
	t.Helper()
	return startPipes(ctx)
}

// startPipes is start for any goroutine (no *testing.T).
func startPipes(ctx context.Context) (*mixproto.Writer, io.Closer, func() ([]mixproto.Frame, error)) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		err := Run(ctx, inR, outW, log)
		_ = outW.Close()
		_ = inR.Close()
		errc <- err
	}()
	var frames []mixproto.Frame
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := mixproto.NewReader(outR)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			frames = append(frames, mixproto.Frame{Type: f.Type, Body: bytes.Clone(f.Body)})
		}
	}()
	return mixproto.NewWriter(inW), inW, func() ([]mixproto.Frame, error) {
		err := <-errc
		wg.Wait()
		return frames, err
	}
}

// pacedTarget writes a feed's calls to the mixer, each unit when the
// wall clock reaches its PTS: a live sender.
type pacedTarget struct {
	w      *mixproto.Writer
	origin time.Time
	stopAt time.Duration // units past this are not sent (a sender that stops)
}

func (p *pacedTarget) wait(pts int64) bool {
	if time.Duration(pts) > p.stopAt {
		return false
	}
	time.Sleep(time.Until(p.origin.Add(time.Duration(pts))))
	return true
}
func (p *pacedTarget) Join(s mixproto.Source) {
	_ = p.w.WriteJSON(mixproto.TypeJoin, s)
	_ = p.w.Flush()
}
func (p *pacedTarget) Leave(id uint32) {}
func (p *pacedTarget) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	if !p.wait(pts) {
		return
	}
	_ = p.w.WriteMedia(mixproto.TypeVideo, mixproto.Media{Source: id, PTS: pts, Flags: v.Flags(), Data: au})
	_ = p.w.Flush()
}
func (p *pacedTarget) Audio(id uint32, pts int64, pkt []byte) {
	if !p.wait(pts) {
		return
	}
	_ = p.w.WriteMedia(mixproto.TypeAudio, mixproto.Media{Source: id, PTS: pts, Data: pkt})
	_ = p.w.Flush()
}

// TestLiveSegments composes a live channel in real time: a red sender
// that stops after 2 s of a 5 s composite. The TS segments are reported,
// named by UTC, decode, and the composite keeps its frame rate after the
// sender stops.
func TestLiveSegments(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	red := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 15, FPS: 15, Color: "red", ToneHz: 440})
	dir := recording(t, map[uint32][]testmedia.Stream{1: red})
	out := t.TempDir()
	wall, mono, err := mixfeed.NewOrigin()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mixproto.Config{Live: true, OriginMonotonic: mono, OriginUnixMs: wall.UnixMilli(), DelayMs: 300,
		Video:  &mixproto.VideoConfig{Width: 320, Height: 180, FPS: 15, BitrateKbps: 300},
		Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
		Layout: mixproto.Layout{Background: 0x0000ff, Windows: []mixproto.Window{{Source: 1, X: 0, Y: 0, W: 160, H: 180, Alpha: 1}}},
		OutDir: out, HLS: &mixproto.HLSOutput{Prefix: "sid_class", SegmentSeconds: 2}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, closer, wait := start(t, ctx)
	_ = w.WriteJSON(mixproto.TypeConfig, cfg)
	_ = w.Flush()
	pt := &pacedTarget{w: w, origin: wall, stopAt: 2 * time.Second}
	if _, err := mixfeed.Offline(dir, pt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(wall.Add(5 * time.Second)))
	_ = w.WriteJSON(mixproto.TypeEnd, nil)
	_ = w.Flush()
	frames, err := wait()
	_ = closer.Close()
	if err != nil {
		t.Fatal(err)
	}
	var segs []mixproto.FileClosed
	var done bool
	for _, f := range frames {
		switch f.Type {
		case mixproto.TypeFileClosed:
			var fc mixproto.FileClosed
			if err := mixproto.Decode(f.Body, &fc); err != nil {
				t.Fatal(err)
			}
			segs = append(segs, fc)
		case mixproto.TypeDone:
			done = true
		}
	}
	if !done || len(segs) < 2 {
		t.Fatalf("done %v, segments %+v", done, segs)
	}
	var total time.Duration
	list := filepath.Join(out, "list.txt")
	var lines []string
	for _, s := range segs {
		if s.Kind != mixproto.KindTS || !strings.HasPrefix(s.Name, "sid_class_2026") || len(s.Name) != len("sid_class_yyyyMMddHHmmssSSS.ts") {
			t.Fatalf("segment %+v", s)
		}
		p := filepath.Join(out, s.Name)
		testmedia.Decode(t, p)
		total += time.Duration(s.DurationNs)
		lines = append(lines, "file '"+p+"'")
	}
	if total < 4500*time.Millisecond || total > 5500*time.Millisecond {
		t.Fatalf("segments last %v in all, want about 5 s: %+v", total, segs)
	}
	if err := os.WriteFile(list, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-f", "concat", "-safe", "0", "-i", list, "-count_frames",
		"-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0")
	o, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe: %s", ee.Stderr)
		}
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(o)))
	if err != nil {
		t.Fatal(err)
	}
	// 15 fps for 5 s, kept up after the sender stopped at 2 s.
	if n < 67 || n > 83 {
		t.Fatalf("%d frames, want about 75", n)
	}
	pcm := testmedia.DecodeMono(t, "-f", "concat", "-safe", "0", "-i", list)
	// The tone while the sender sends (the composite runs DelayMs behind).
	// A live composite that started playing before its base time had
	// none of it (the silent canvas audio stamped ~2^64 ns): see Run.
	tone, empty := testmedia.ToneEnergy(pcm, 440, 500*time.Millisecond, 1800*time.Millisecond), testmedia.ToneEnergy(pcm, 2500, 500*time.Millisecond, 1800*time.Millisecond)
	if tone < 1e-6 || tone < 100*empty {
		t.Fatalf("live composite without its tone: 440 Hz energy %.3g, empty band %.3g, %d samples", tone, empty, len(pcm))
	}
	t.Logf("segments %d, %v, frames %d, tone %.3g", len(segs), total, n, tone)
}
