package snapshot

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/transcode"
	"github.com/ars-project/ars/internal/vcodec"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// mixerBinary returns an ars-mixer to run: $ARS_MIXER_BIN, or one built
// once from cmd/ars-mixer (cgo, GStreamer). The test skips when neither
// can be had: the snapshotter is a separate, native binary.
func mixerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ARS_MIXER_BIN"); p != "" {
		return p
	}
	binOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ars-snapshot-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "ars-mixer")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/ars-mixer")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Skipf("ars-mixer does not build here: %v", binErr)
	}
	return binPath
}

// goroutineGuard fails the test if it leaves goroutines behind.
func goroutineGuard(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left behind (before %d):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// grab runs a stream's packets through an armed grabber from packet
// `from` on and returns the first keyframe it completes.
func grab(t *testing.T, s testmedia.Stream, from int, skip func(i int) bool) (Keyframe, int) {
	t.Helper()
	g := NewGrabber(vcodec.FromName(s.Info.Codec))
	g.Arm()
	var h transcode.RTPHeader
	t0 := time.Unix(1700000000, 0)
	for i := from; i < len(s.Packets); i++ {
		if skip != nil && skip(i) {
			continue
		}
		if err := transcode.ParseRTP(s.Packets[i].Data, &h); err != nil {
			t.Fatal(err)
		}
		if k, ok := g.Packet(t0.Add(s.Packets[i].At), h.Seq, h.TS, h.Marker, h.Payload); ok {
			if g.Armed() {
				t.Fatal("still armed after a keyframe")
			}
			return k, i
		}
	}
	t.Fatal("no keyframe grabbed")
	return Keyframe{}, 0
}

type collector struct {
	mu  sync.Mutex
	res []Result
	ch  chan Result
}

func newCollector() *collector { return &collector{ch: make(chan Result, 1024)} }

func (c *collector) on(r Result) { c.ch <- r }

func (c *collector) next(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no result")
	}
	return Result{}
}

// rgbAt decodes a JPEG (ffmpeg, strictly) and returns its size and the
// colour at (x, y) given as fractions of the picture.
func rgbAt(t *testing.T, b []byte, fx, fy float64) (w, h int, rgb [3]int) {
	t.Helper()
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	w, h = cfg.Width, cfg.Height
	f := filepath.Join(t.TempDir(), "s.jpg")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", f, "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("decode: %v (%d bytes for %dx%d)", err, len(out), w, h)
	}
	x, y := int(fx*float64(w)), int(fy*float64(h))
	i := (y*w + x) * 3
	return w, h, [3]int{int(out[i]), int(out[i+1]), int(out[i+2])}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

// TestSnapshotCodecs: a keyframe of each codec, grabbed from real RTP
// (ffmpeg's encoders and packetizers), becomes a JPEG of the sent
// picture's size and colour.
func TestSnapshotCodecs(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBinary(t)
	goroutineGuard(t)
	col := newCollector()
	s, err := New(WithBinary(bin), WithOnResult(col.on))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, c := range []struct {
		codec, colour string
		rgb           [3]int
	}{{"H264", "red", [3]int{255, 0, 0}}, {"VP8", "blue", [3]int{0, 0, 255}}, {"VP9", "lime", [3]int{0, 255, 0}},
		{"AV1", "yellow", [3]int{255, 255, 0}}} {
		t.Run(c.codec, func(t *testing.T) {
			st := testmedia.Generate(t, testmedia.Options{Video: true, Codec: c.codec, Color: c.colour, Duration: 2 * time.Second, GOP: 25})
			k, _ := grab(t, st[0], 3, nil) // not at the first packet: the next keyframe
			if !s.Submit(Request{Codec: k.Codec, Data: k.Data, Tag: c.codec}) {
				t.Fatal("not submitted")
			}
			r := col.next(t)
			if r.Err != nil || r.Tag != c.codec {
				t.Fatalf("result %v %v", r.Tag, r.Err)
			}
			w, h, rgb := rgbAt(t, r.JPEG, 0.5, 0.5)
			if w != 320 || h != 240 || !near(rgb, c.rgb, 40) {
				t.Fatalf("%dx%d, centre %v, want 320x240 %v", w, h, rgb, c.rgb)
			}
		})
	}
}

// TestSnapshotOrientation: a picture sent sideways with its orientation
// is turned upright: a quarter turn clockwise moves the top-left
// quadrant to the top right and swaps the sides.
func TestSnapshotOrientation(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBinary(t)
	goroutineGuard(t)
	col := newCollector()
	s, err := New(WithBinary(bin), WithOnResult(col.on))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	st := testmedia.Generate(t, testmedia.Options{Video: true, Quadrants: [4]string{"red", "lime", "blue", "white"},
		Duration: time.Second, GOP: 25})
	k, _ := grab(t, st[0], 0, nil)
	s.Submit(Request{Codec: k.Codec, Data: k.Data, Orientation: vcodec.Orientation{Rotation: 90}})
	r := col.next(t)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	w, h, tr := rgbAt(t, r.JPEG, 0.75, 0.25)
	if w != 240 || h != 320 || !near(tr, [3]int{255, 0, 0}, 50) {
		t.Fatalf("%dx%d, top right %v: want 240x320 and the red top-left quadrant there", w, h, tr)
	}
}

// TestGrabberLoss: a keyframe with a lost packet is not taken; the
// grabber takes the next whole one. Reordered packets are put back.
func TestGrabberLoss(t *testing.T) {
	st := testmedia.Generate(t, testmedia.Options{Video: true, Width: 640, Height: 480, Duration: 3 * time.Second, GOP: 25, VideoBitrate: 2000})[0]
	first, end := grab(t, st, 0, nil)
	// The first keyframe again (its packets share the RTP timestamp),
	// missing its second packet.
	var h transcode.RTPHeader
	_ = transcode.ParseRTP(st.Packets[end].Data, &h)
	ts, start := h.TS, end
	for start > 0 {
		_ = transcode.ParseRTP(st.Packets[start-1].Data, &h)
		if h.TS != ts {
			break
		}
		start--
	}
	if start < 0 || end-start < 2 {
		t.Fatalf("keyframe spans packets %d..%d: want several", start, end)
	}
	second, _ := grab(t, st, start, func(i int) bool { return i == start+1 })
	if second.At.Sub(first.At) < 900*time.Millisecond {
		t.Fatalf("a damaged keyframe was taken (%v after the first)", second.At.Sub(first.At))
	}
	// Swapped packets inside the keyframe: the same frame comes out.
	swapped := st.Clone()
	swapped.Packets[start+1], swapped.Packets[start+2] = swapped.Packets[start+2], swapped.Packets[start+1]
	again, _ := grab(t, swapped, start, nil)
	if !bytes.Equal(again.Data, first.Data) {
		t.Fatal("a reordered keyframe rebuilt differently")
	}
	// Unarmed, nothing is taken.
	g := NewGrabber(vcodec.H264)
	for _, p := range st.Packets {
		_ = transcode.ParseRTP(p.Data, &h)
		if _, ok := g.Packet(time.Now(), h.Seq, h.TS, h.Marker, h.Payload); ok {
			t.Fatal("an unarmed grabber took a keyframe")
		}
	}
}

// TestSnapshotterFailures: a keyframe that decodes to nothing gets an
// error; a killed child is replaced and the next request succeeds; a
// full queue drops and counts; Close answers every request.
func TestSnapshotterFailures(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBinary(t)
	goroutineGuard(t)
	col := newCollector()
	var drops, restarts int
	var mu sync.Mutex
	s, err := New(WithBinary(bin), WithOnResult(col.on), WithQueue(2),
		WithOnDrop(func() { mu.Lock(); drops++; mu.Unlock() }),
		WithOnRestart(func(error) { mu.Lock(); restarts++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	st := testmedia.Generate(t, testmedia.Options{Video: true, Color: "red", Duration: time.Second, GOP: 25})
	k, _ := grab(t, st[0], 0, nil)

	s.Submit(Request{Codec: vcodec.H264, Data: bytes.Repeat([]byte{0, 0, 0, 1, 0x65, 0xff}, 50)})
	if r := col.next(t); !errors.Is(r.Err, ErrNoPicture) {
		t.Fatalf("garbage keyframe: %v", r.Err)
	}

	pid := s.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { p := s.PID(); return p != 0 && p != pid && s.Stats().Restarts == 1 })
	s.Submit(Request{Codec: k.Codec, Data: k.Data})
	if r := col.next(t); r.Err != nil {
		t.Fatalf("after a restart: %v", r.Err)
	}

	// Far more than the queue holds, at once.
	accepted := 0
	for i := 0; i < 40; i++ {
		if s.Submit(Request{Codec: k.Codec, Data: k.Data}) {
			accepted++
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := 0
	for len(col.ch) > 0 {
		if r := <-col.ch; r.Err != nil {
			t.Errorf("queued request: %v", r.Err)
		}
		got++
	}
	st2 := s.Stats()
	mu.Lock()
	defer mu.Unlock()
	if got != accepted || drops != 40-accepted || drops == 0 || int64(drops) != st2.Dropped || restarts != 1 {
		t.Fatalf("%d accepted, %d answered, %d dropped (stats %+v), %d restarts", accepted, got, drops, st2, restarts)
	}
	if s.Submit(Request{Codec: k.Codec, Data: k.Data}) {
		t.Fatal("submitted after Close")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// BenchmarkSnapshot is one keyframe's round trip through the child
// (decode, JPEG, answer), per codec, at 1280x720.
func BenchmarkSnapshot(b *testing.B) {
	for _, codec := range []string{"H264", "VP8", "VP9", "AV1"} {
		b.Run(codec, func(b *testing.B) {
			st := testmedia.Generate(b, testmedia.Options{Video: true, Codec: codec, Width: 1280, Height: 720, Duration: time.Second,
				GOP: 25, VideoBitrate: 2500})
			k := grabB(b, st[0])
			res := make(chan Result, 1)
			s, err := New(WithBinary(benchBinary(b)), WithOnResult(func(r Result) { res <- r }))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Submit(Request{Codec: k.Codec, Data: k.Data})
				if r := <-res; r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		})
	}
}

func grabB(b *testing.B, s testmedia.Stream) Keyframe {
	g := NewGrabber(vcodec.FromName(s.Info.Codec))
	g.Arm()
	var h transcode.RTPHeader
	for _, p := range s.Packets {
		_ = transcode.ParseRTP(p.Data, &h)
		if k, ok := g.Packet(time.Now(), h.Seq, h.TS, h.Marker, h.Payload); ok {
			return k
		}
	}
	b.Fatal("no keyframe")
	return Keyframe{}
}

func benchBinary(b *testing.B) string {
	if p := os.Getenv("ARS_MIXER_BIN"); p != "" {
		return p
	}
	b.Skip("set ARS_MIXER_BIN to an ars-mixer")
	return ""
}

// TestSnapshotterHang: a child that stops answering (SIGSTOP) is killed
// after the timeout, the request it held fails, and a new child answers
// the next one.
func TestSnapshotterHang(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	bin := mixerBinary(t)
	goroutineGuard(t)
	col := newCollector()
	s, err := New(WithBinary(bin), WithOnResult(col.on), WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	st := testmedia.Generate(t, testmedia.Options{Video: true, Color: "red", Duration: time.Second, GOP: 25})
	k, _ := grab(t, st[0], 0, nil)
	pid := s.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	s.Submit(Request{Codec: k.Codec, Data: k.Data, Tag: "held"})
	r := col.next(t)
	if !errors.Is(r.Err, ErrChildFailed) || r.Tag != "held" {
		t.Fatalf("held request: %v %v", r.Tag, r.Err)
	}
	if d := time.Since(began); d < time.Second || d > 5*time.Second {
		t.Fatalf("failed after %v, want about the 1 s timeout", d)
	}
	waitFor(t, func() bool { p := s.PID(); return p != 0 && p != pid })
	s.Submit(Request{Codec: k.Codec, Data: k.Data})
	if r := col.next(t); r.Err != nil {
		t.Fatalf("after the hang: %v", r.Err)
	}
}
