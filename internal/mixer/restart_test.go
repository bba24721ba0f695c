package mixer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/testmedia"
)

// midStream is a live sender seen by a mixer that took over mid-stream:
// units before skip are gone (the dead mixer had them), the rest come
// paced, the first video units of each source not keyframes.
type midStream struct {
	pacedTarget
	skip int64
}

func (m *midStream) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	if pts >= m.skip {
		m.pacedTarget.Video(id, pts, v, au)
	}
}

func (m *midStream) Audio(id uint32, pts int64, pkt []byte) {
	if pts >= m.skip {
		m.pacedTarget.Audio(id, pts, pkt)
	}
}

// TestLiveRestartJoins is a mixer restarted after a crash, the way
// internal/mixrun starts one: its origin 4 s in the past, every source
// joining at once, a layout right away, then units from mid-GOP on.
// Eight sources join (two in windows, six off the canvas), three mixers
// one after the other: each join activates an audio branch while the
// pipeline runs, each source's first video unit a video branch. Before the branches were brought up downstream first,
// appsrc's streaming thread pushed its caps into an h264parse still
// starting (gst_h264_nal_parser_new) and the mixer died with SIGSEGV,
// killing this test binary; now every mixer finishes and its composite
// decodes with red left, blue right and the red sender's tone.
func TestLiveRestartJoins(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	red := testmedia.Generate(t, testmedia.Options{Duration: 7 * time.Second, GOP: 15, FPS: 15, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 7 * time.Second, GOP: 15, FPS: 15, Color: "blue", ToneHz: 1000})
	caps := map[uint32][]testmedia.Stream{}
	for uid := uint32(1); uid <= 8; uid++ {
		caps[uid] = red
		if uid%2 == 0 {
			caps[uid] = blue
		}
	}
	dir := recording(t, caps)
	const w, h = 320, 180
	// Three successors, each bringing up 16 branches at once (the crash
	// needed that load).
	// One after another: Run initialises GStreamer (gst.Init), which
	// go-gst does not guard, and the real mixer is one Run per process.
	const runs = 3
	outs := make([]string, runs)
	for run := range runs {
		outs[run] = t.TempDir()
		if err := successor(dir, outs[run], w, h); err != nil {
			t.Fatal(err)
		}
	}
	for run, out := range outs {
		p := filepath.Join(out, "mixed_2.mp4")
		testmedia.Decode(t, p)
		// The mixer's time 0 is its start (PTS 4 s); the senders' units
		// from 4.2 s on, keyframes from 5 s: look at 1.8 s (PTS 5.8 s).
		img := testmedia.RGBFrameAt(t, p, 1800*time.Millisecond, w, h)
		px := func(x, y int) []byte { return img[(y*w+x)*3 : (y*w+x)*3+3] }
		l, r := px(w/4, h/2), px(3*w/4, h/2)
		if !near(l, [3]int{255, 0, 0}) || !near(r, [3]int{0, 0, 255}) {
			t.Fatalf("run %d: left %v right %v, want red and blue", run, l, r)
		}
		pcm := testmedia.DecodeMono(t, "-i", p)
		tone := testmedia.ToneEnergy(pcm, 440, 800*time.Millisecond, 2*time.Second)
		empty := testmedia.ToneEnergy(pcm, 2500, 800*time.Millisecond, 2*time.Second)
		if tone < 1e-6 || tone < 100*empty {
			t.Fatalf("run %d: 440 Hz energy %.3g, empty band %.3g", run, tone, empty)
		}
		t.Logf("run %d: left %v right %v, tone %.3g (empty %.3g)", run, l, r, tone, empty)
	}
}

// successor runs one restarted mixer in this process over the captures
// of dir, writing out/mixed_2.mp4.
func successor(dir, out string, w, h int) error {
	wall, mono, err := mixfeed.NewOrigin()
	if err != nil {
		return err
	}
	// The composite began 4 s ago: the mixer starts its own running
	// time now (the offset), as a successor does.
	const past = 4 * time.Second
	wall = wall.Add(-past)
	mono -= int64(past)
	layout := mixproto.Layout{Background: 0x00ff00, Windows: []mixproto.Window{
		{Source: 1, X: 0, Y: 0, W: w / 2, H: h, Alpha: 1},
		{Source: 2, X: w / 2, Y: 0, W: w / 2, H: h, Alpha: 1},
	}}
	cfg := mixproto.Config{Live: true, OriginMonotonic: mono, OriginUnixMs: wall.UnixMilli(), DelayMs: 300,
		Video:  &mixproto.VideoConfig{Width: w, Height: h, FPS: 15, BitrateKbps: 300},
		Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48},
		Layout: layout, OutDir: out, MP4: &mixproto.MP4Output{Pattern: "mixed_2.mp4"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, closer, wait := startPipes(ctx)
	defer closer.Close()
	_ = in.WriteJSON(mixproto.TypeConfig, cfg)
	// mixrun queues the joins and the layout before any media.
	for id := uint32(1); id <= 8; id++ {
		_ = in.WriteJSON(mixproto.TypeJoin, mixproto.Source{ID: id, Video: true, Audio: true})
	}
	_ = in.WriteJSON(mixproto.TypeLayout, layout)
	_ = in.Flush()
	// 4.2 s is mid-GOP (a keyframe each second): non-key units first.
	ms := &midStream{pacedTarget: pacedTarget{w: in, origin: wall, stopAt: 6500 * time.Millisecond}, skip: int64(4200 * time.Millisecond)}
	if _, err := mixfeed.Offline(dir, ms); err != nil {
		return err
	}
	time.Sleep(time.Until(wall.Add(6500 * time.Millisecond)))
	_ = in.WriteJSON(mixproto.TypeEnd, nil)
	_ = in.Flush()
	frames, err := wait()
	if err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	for _, f := range frames {
		if f.Type == mixproto.TypeDone {
			return nil
		}
	}
	return fmt.Errorf("%s: no Done", out)
}

func near(px []byte, c [3]int) bool {
	for i := range 3 {
		if d := int(px[i]) - c[i]; d < -60 || d > 60 {
			return false
		}
	}
	return true
}
