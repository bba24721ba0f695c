package mixer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// feedTarget writes a feed's calls to the mixer as they come: an offline
// composite, the pipe its back-pressure.
type feedTarget struct{ w *mixproto.Writer }

func (f feedTarget) Join(s mixproto.Source) { _ = f.w.WriteJSON(mixproto.TypeJoin, s) }
func (f feedTarget) Leave(id uint32)        { _ = f.w.WriteJSON(mixproto.TypeLeave, mixproto.Leave{ID: id}) }
func (f feedTarget) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	_ = f.w.WriteMedia(mixproto.TypeVideo, mixproto.Media{Source: id, PTS: pts, Flags: v.Flags(), Data: au})
}
func (f feedTarget) Audio(id uint32, pts int64, pkt []byte) {
	_ = f.w.WriteMedia(mixproto.TypeAudio, mixproto.Media{Source: id, PTS: pts, Data: pkt})
}

// syncBuffer is a log destination the mixer's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// offline composes the captures of dir offline onto a w x h canvas with
// layout, in this process, and returns the MP4 and the mixer's log (Info
// and above).
func offline(t *testing.T, dir string, w, h int, layout mixproto.Layout) (string, string) {
	t.Helper()
	out := t.TempDir()
	cfg := mixproto.Config{OriginUnixMs: recStart.UnixMilli(),
		Video:  &mixproto.VideoConfig{Width: w, Height: h, FPS: 25, BitrateKbps: 1500},
		Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
		Layout: layout, OutDir: out, MP4: &mixproto.MP4Output{Pattern: "mixed.mp4"}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	logs := &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		err := Run(ctx, inR, outW, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
		_ = outW.Close()
		_ = inR.Close()
		errc <- err
	}()
	done := make(chan bool, 1)
	go func() {
		r := mixproto.NewReader(outR)
		ok := false
		for {
			f, err := r.ReadFrame()
			if err != nil {
				done <- ok
				return
			}
			ok = ok || f.Type == mixproto.TypeDone
		}
	}()
	in := mixproto.NewWriter(inW)
	_ = in.WriteJSON(mixproto.TypeConfig, cfg)
	if _, err := mixfeed.Offline(dir, feedTarget{in}); err != nil {
		t.Fatal(err)
	}
	_ = in.WriteJSON(mixproto.TypeEnd, nil)
	_ = in.Flush()
	err := <-errc
	_ = inW.Close()
	if ok := <-done; !ok || err != nil {
		t.Fatalf("mixer: done %v, %v\n%s", ok, err, logs)
	}
	p := filepath.Join(out, "mixed.mp4")
	testmedia.Decode(t, p)
	return p, logs.String()
}

// frame reads pixels of the composite's frame at `at`.
type frame struct {
	t    *testing.T
	img  []byte
	w    int
	name string
}

func frameAt(t *testing.T, path string, at time.Duration, w, h int) frame {
	return frame{t: t, img: testmedia.RGBFrameAt(t, path, at, w, h), w: w, name: fmt.Sprint(at)}
}

// want fails unless the pixel at (x, y) is near colour c.
func (f frame) want(what string, x, y int, c [3]int) {
	f.t.Helper()
	px := f.img[(y*f.w+x)*3 : (y*f.w+x)*3+3]
	if !near(px, c) {
		f.t.Errorf("at %s, %s (%d,%d) is %v, want %v", f.name, what, x, y, px, c)
	}
}

var (
	red     = [3]int{255, 0, 0}
	lime    = [3]int{0, 255, 0}
	blue    = [3]int{0, 0, 255}
	white   = [3]int{255, 255, 255}
	yellow  = [3]int{255, 255, 0}
	magenta = [3]int{255, 0, 255}
	gray    = [3]int{128, 128, 128}
)

// TestOfflineCodecs composes four participants, one per codec (H.264
// red, VP8 blue, VP9 yellow, AV1 magenta), in a 2x2 grid: the composite
// decodes without an error and each colour is in its window, from the
// start (each codec's decoder starts at its first keyframe) to the end.
func TestOfflineCodecs(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	colours := map[vcodec.Codec]string{vcodec.H264: "red", vcodec.VP8: "blue", vcodec.VP9: "yellow", vcodec.AV1: "magenta"}
	caps := map[uint32][]testmedia.Stream{}
	for i, c := range vcodec.All() {
		caps[uint32(i+1)] = testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25, Color: colours[c], Codec: c.Name(), ToneHz: 300 + 200*i})
	}
	dir := recording(t, caps)
	const w, h = 640, 360
	// Sources join in capture order: the captures are named by UID.
	var wins []mixproto.Window
	for i := range 4 {
		wins = append(wins, mixproto.Window{Source: uint32(i + 1), X: i % 2 * w / 2, Y: i / 2 * h / 2, W: w / 2, H: h / 2, Alpha: 1})
	}
	p, logs := offline(t, dir, w, h, mixproto.Layout{Background: 0x00ff00, Windows: wins})
	if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Fatalf("mixer log:\n%s", logs)
	}
	want := [][3]int{red, blue, yellow, magenta}
	for _, at := range []time.Duration{200 * time.Millisecond, 1500 * time.Millisecond, 2700 * time.Millisecond} {
		f := frameAt(t, p, at, w, h)
		for i, c := range vcodec.All() {
			f.want(c.Name()+" window", wins[i].X+w/4, wins[i].Y+h/4, want[i])
		}
	}
}

// quadrants is the upright test picture: red, lime / blue, white.
var quadrants = [4]string{"red", "lime", "blue", "white"}

// wantUpright checks the four quadrants of a picture drawn in the
// rectangle (x, y, pw, ph) of the canvas against q (top-left, top-right,
// bottom-left, bottom-right).
func wantUpright(f frame, what string, x, y, pw, ph int, q [4][3]int) {
	f.t.Helper()
	for i, c := range q {
		f.want(fmt.Sprintf("%s quadrant %d", what, i), x+pw/4+i%2*pw/2, y+ph/4+i/2*ph/2, c)
	}
}

// TestOfflineOrientation: two senders whose cameras see the picture
// sideways and say so with CVO. A VP8 one (the picture turned 90 degrees
// counter-clockwise) signals a 90 degree clockwise turn from its second
// second on: it is shown as coded (sideways, portrait) before and upright
// (landscape) after, changing mid-GOP at the frame that says so, and its
// fitted window letterboxes it by the turned aspect ratio. An H.264 one (turned clockwise and
// flipped upside down) signals 270 degrees and a mirror from the start:
// upright throughout.
func TestOfflineOrientation(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	const cvoID = 3
	ext := []storage.HeaderExtension{{ID: cvoID, URI: vcodec.CVOURI}}
	vp8 := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 100, Quadrants: quadrants, Transpose: 2, Codec: "VP8", ToneHz: 500})
	half := len(vp8[0].Packets) / 2
	vp8[0] = testmedia.WithCVO(vp8[0], cvoID, half, vcodec.Orientation{Rotation: 90}.Byte())
	vp8[0].Info.Extensions = ext
	h264 := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25, Quadrants: quadrants, Transpose: 3, ToneHz: 700})
	h264[0] = testmedia.WithCVO(h264[0], cvoID, 0, vcodec.Orientation{Rotation: 270, Flip: true}.Byte())
	h264[0].Info.Extensions = ext
	dir := recording(t, map[uint32][]testmedia.Stream{1: vp8, 2: h264})
	const w, h = 640, 360
	layout := mixproto.Layout{Background: 0x808080, Windows: []mixproto.Window{
		{Source: 1, X: 0, Y: 0, W: 160, H: 360, Alpha: 1, Fit: true},
		{Source: 2, X: 320, Y: 0, W: 320, H: 360, Alpha: 1},
	}}
	p, logs := offline(t, dir, w, h, layout)
	if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Fatalf("mixer log:\n%s", logs)
	}
	// The GOP of the VP8 sender is 4 s: its turn comes on an inter frame.
	if k := len(vp8[0].KeyframeIndexes()); k != 1 {
		t.Fatalf("the VP8 sender has %d keyframes, want 1", k)
	}
	upright := [4][3]int{red, lime, blue, white}
	// Turned 90 degrees counter-clockwise: lime, white / red, blue.
	sideways := [4][3]int{lime, white, red, blue}
	// The turn comes with the frame holding packet `half`, at its time
	// (25 fps, both captures starting at the composite's 0): pictures
	// four frames before it are sideways, four after it upright. The
	// offline input runs up to 3 s ahead of the output, so a turn applied
	// when its unit went in would show seconds early.
	turnAt := time.Duration(vp8[0].Frames()-vp8[0].FramesFrom(half)) * 40 * time.Millisecond
	before := frameAt(t, p, turnAt-160*time.Millisecond, w, h)
	// 240x320 fitted into 160x360: 160x213 from y 73.
	wantUpright(before, "VP8 before its turn", 0, 73, 160, 213, sideways)
	wantUpright(before, "H.264", 320, 0, 320, 360, upright)
	after := frameAt(t, p, turnAt+160*time.Millisecond, w, h)
	// 320x240 fitted into 160x360: 160x120 from y 120, the canvas above
	// and below.
	wantUpright(after, "VP8 after its turn", 0, 120, 160, 120, upright)
	after.want("VP8 window's bar", 80, 100, gray)
	after.want("VP8 window's bar", 80, 260, gray)
	wantUpright(after, "H.264", 320, 0, 320, 360, upright)
}

// TestOfflineCodecSwitch: a sender's H.264 stream (red) stops and a VP8
// stream (blue) on a new SSRC continues it, a renegotiated call: the
// mixer builds the source a VP8 branch in place of its H.264 one, and the
// window shows red, then blue.
func TestOfflineCodecSwitch(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	first := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "red", Video: true})[0]
	second := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "blue", Video: true, Codec: "VP8"})[0]
	second = testmedia.Shift(testmedia.SetSSRC(second, 0x3000_0003), 2500*time.Millisecond)
	second.Info.PayloadType = 98
	for _, pk := range second.Packets {
		pk.Data[1] = pk.Data[1]&0x80 | 98
	}
	dir := recording(t, map[uint32][]testmedia.Stream{1: {first, second}})
	const w, h = 320, 180
	p, logs := offline(t, dir, w, h, mixproto.Layout{Background: 0x00ff00, Windows: []mixproto.Window{{Source: 1, W: w, H: h, Alpha: 1}}})
	if !strings.Contains(logs, "video codec changed") || strings.Contains(logs, "level=WARN") {
		t.Fatalf("mixer log:\n%s", logs)
	}
	frameAt(t, p, time.Second, w, h).want("window", w/2, h/2, red)
	frameAt(t, p, 3500*time.Millisecond, w, h).want("window", w/2, h/2, blue)
}

// TestLiveOrientation is TestOfflineOrientation's VP8 sender in a live
// composite, paced as it was sent: the live compositor takes the turned
// picture's new size mid-stream too, and the turn shows with its frame.
func TestLiveOrientation(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	const cvoID = 3
	vp8 := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 100, Quadrants: quadrants, Transpose: 2, Codec: "VP8", ToneHz: 500})
	half := len(vp8[0].Packets) / 2
	vp8[0] = testmedia.WithCVO(vp8[0], cvoID, half, vcodec.Orientation{Rotation: 90}.Byte())
	vp8[0].Info.Extensions = []storage.HeaderExtension{{ID: cvoID, URI: vcodec.CVOURI}}
	dir := recording(t, map[uint32][]testmedia.Stream{1: vp8})
	const w, h = 320, 360
	out := t.TempDir()
	wall, mono, err := mixfeed.NewOrigin()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mixproto.Config{Live: true, OriginMonotonic: mono, OriginUnixMs: wall.UnixMilli(), DelayMs: 300,
		Video: &mixproto.VideoConfig{Width: w, Height: h, FPS: 25, BitrateKbps: 800},
		Audio: mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
		Layout: mixproto.Layout{Background: 0x808080, Windows: []mixproto.Window{
			{Source: 1, X: 0, Y: 0, W: w, H: h, Alpha: 1, Fit: true}}},
		OutDir: out, MP4: &mixproto.MP4Output{Pattern: "mixed.mp4"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, closer, wait := start(t, ctx)
	_ = in.WriteJSON(mixproto.TypeConfig, cfg)
	_ = in.Flush()
	if _, err := mixfeed.Offline(dir, &pacedTarget{w: in, origin: wall, stopAt: time.Hour}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(wall.Add(4500 * time.Millisecond)))
	_ = in.WriteJSON(mixproto.TypeEnd, nil)
	_ = in.Flush()
	frames, err := wait()
	_ = closer.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 || frames[len(frames)-1].Type != mixproto.TypeDone {
		t.Fatal("no Done")
	}
	p := filepath.Join(out, "mixed.mp4")
	testmedia.Decode(t, p)
	turnAt := time.Duration(vp8[0].Frames()-vp8[0].FramesFrom(half)) * 40 * time.Millisecond
	// 240x320 fitted into 320x360: 270x360 from x 25; 320x240 from y 60.
	// The live output runs DelayMs behind; the MP4 starts at the first
	// frame, so its times are the composite's.
	before := frameAt(t, p, turnAt-200*time.Millisecond, w, h)
	wantUpright(before, "before its turn", 25, 0, 270, 360, [4][3]int{lime, white, red, blue})
	after := frameAt(t, p, turnAt+200*time.Millisecond, w, h)
	wantUpright(after, "after its turn", 0, 60, 320, 240, [4][3]int{red, lime, blue, white})
	after.want("bar", w/2, 30, gray)
}
