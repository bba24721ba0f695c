package aacenc

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/testmedia"
)

const frame = 1024 * time.Second / 48000 // one AAC frame at 48 kHz, in ns (truncated)

// checkTimeline: one config first, units back to back from one frame
// before the first packet (the priming), a clean close at the end.
func checkTimeline(t *testing.T, rs []AAC, firstPTS time.Duration) []AAC {
	t.Helper()
	if len(rs) < 3 || rs[0].Kind != KindConfig || rs[len(rs)-1].Kind != KindClosed || rs[len(rs)-1].Err != nil {
		t.Fatalf("results: %d, first %+v, last %+v", len(rs), rs[0], rs[len(rs)-1])
	}
	if c := rs[0]; c.Rate != 48000 || len(c.ASC) < 2 || c.ASC[0]>>3 != 2 {
		t.Fatalf("config %+v", c)
	}
	var units []AAC
	for _, r := range rs[1 : len(rs)-1] {
		if r.Kind != KindUnit || len(r.Data) == 0 {
			t.Fatalf("unexpected result %+v", r)
		}
		if n := len(units); n > 0 && units[n-1].PTS+units[n-1].Duration != r.PTS {
			t.Fatalf("unit %d at %v does not follow %v+%v", n, r.PTS, units[n-1].PTS, units[n-1].Duration)
		}
		units = append(units, r)
	}
	if d := units[0].PTS - (firstPTS - frame); d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("first unit at %v, want %v (one frame before the first packet)", units[0].PTS, firstPTS-frame)
	}
	return units
}

// TestToneTranscoded: ffmpeg's 5 s of 440 Hz in 20 ms Opus packets,
// through the transcoder, written as ADTS: decodes without an error, lasts
// the input's 5 s, and the tone dominates.
func TestToneTranscoded(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, "sine=f=440:d=5:sample_rate=48000", 2)
	// 5 s and ffmpeg's 312-sample pre-skip: 251 packets; 250 are 5 s.
	if len(pkts) < 250 {
		t.Fatalf("%d packets, want 250", len(pkts))
	}
	pkts = pkts[:250]
	c := newCollector()
	tr := start(t, c)
	for _, fast := range []bool{false, true} {
		t.Run(map[bool]string{false: "twoloop", true: "fast"}[fast], func(t *testing.T) { tone(t, tr, c, pkts, fast) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c.overlap {
		t.Fatal("callbacks overlapped")
	}
}

func tone(t *testing.T, tr *Transcoder, c *collector, pkts [][]byte, fast bool) {
	id := uint32(7)
	if fast {
		id = 8
	}
	s, err := tr.Open(id, Params{InputChannels: 2, Channels: 2, BitrateKbps: 96, Fast: fast})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, pkts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	units := checkTimeline(t, c.of(id), 0)
	path := filepath.Join(t.TempDir(), "tone.aac")
	writeADTS(t, path, c.of(id))
	pcm := decodeClean(t, path)
	// The units span the input plus the priming frame and the padding
	// of the last: the sound from the first unit's PTS on.
	got := float64(len(pcm)) / 48000
	end := (units[len(units)-1].PTS + units[len(units)-1].Duration).Seconds()
	t.Logf("%d units, PTS %v .. %.4f s; %.4f s decoded", len(units), units[0].PTS, end, got)
	if math.Abs(end-5) > 0.05 {
		t.Fatalf("the units end at %.4f s, the input at 5 s", end)
	}
	if math.Abs(got+units[0].PTS.Seconds()-5) > 0.05 {
		t.Fatalf("decoded %.4f s from %v, want the input's 5 s", got, units[0].PTS)
	}
	tone := testmedia.ToneEnergy(pcm, 440, 500*time.Millisecond, 4500*time.Millisecond)
	empty := testmedia.ToneEnergy(pcm, 2500, 500*time.Millisecond, 4500*time.Millisecond)
	t.Logf("440 Hz %.3g, empty band %.3g", tone, empty)
	if tone < 1e-3 || tone < 1000*empty {
		t.Fatalf("440 Hz %.3g, empty band %.3g: the tone does not dominate", tone, empty)
	}
}

// beeps is 100 ms of 440 Hz every 500 ms, 5 s: sharp onsets to time.
const beeps = `aevalsrc=0.5*sin(2*PI*440*t)*lt(mod(t\,0.5)\,0.1):d=5:s=48000`

// transcodeBeeps runs the beeps through one stream, without the packets
// skip names, and returns the onsets in stream time.
func transcodeBeeps(t *testing.T, tr *Transcoder, c *collector, id uint32, pkts [][]byte, skip func(int) bool) ([]float64, []AAC) {
	t.Helper()
	s, err := tr.Open(id, Params{InputChannels: 1, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, pkts, skip)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	first := time.Duration(0)
	for i := range pkts {
		if skip == nil || !skip(i) {
			first = time.Duration(i) * 20 * time.Millisecond
			break
		}
	}
	units := checkTimeline(t, c.of(id), first)
	path := filepath.Join(t.TempDir(), "beeps.aac")
	pts0 := writeADTS(t, path, c.of(id))
	var on []float64
	for _, o := range onsets(decodeClean(t, path)) {
		on = append(on, o+pts0.Seconds())
	}
	return on, units
}

// TestPrimingAligned measures where the sound of input time t plays: the
// onsets of the beeps in the output (sample i of the decoded units plays
// at the first unit's PTS + i/48000, as in an MPEG-TS) against the input's
// (0, 0.5, 1, ... s). What remains is Opus's own algorithmic delay (the
// 312-sample pre-skip of ffmpeg's encoder, 6.5 ms, which a WebRTC receiver
// plays too), not the AAC encoder's priming.
func TestPrimingAligned(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, beeps, 1)[:250]
	c := newCollector()
	tr := start(t, c)
	on, _ := transcodeBeeps(t, tr, c, 1, pkts, nil)
	if len(on) != 10 {
		t.Fatalf("onsets %v, want 10", on)
	}
	var sum float64
	for i, o := range on {
		sum += o - float64(i)*0.5
	}
	off := sum / float64(len(on))
	t.Logf("onsets %.4f; the output is %.2f ms behind the input (Opus pre-skip 6.5 ms)", on, off*1000)
	if math.Abs(off*1000-6.5) > 3 {
		t.Fatalf("output %.2f ms off the input, want the 6.5 ms of Opus's pre-skip alone", off*1000)
	}
}

// TestHoleNotShifted drops the packets of [2 s, 3 s) (silence) and, in
// another stream, of [3.2 s, 3.26 s) (concealed by opusdec's PLC): the
// output keeps running, a hole is exactly its length, and every beep
// after it plays where it plays without the hole.
func TestHoleNotShifted(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, beeps, 1)[:250]
	c := newCollector()
	tr := start(t, c)
	ref, refUnits := transcodeBeeps(t, tr, c, 1, pkts, nil)
	if len(ref) != 10 {
		t.Fatalf("onsets without a hole: %.4f", ref)
	}
	for i, h := range []struct {
		name     string
		from, to int // packets dropped
		gone     int // beeps lost in it
	}{{"1 s", 100, 150, 2}, {"60 ms", 160, 163, 0}} {
		t.Run(h.name, func(t *testing.T) {
			holed, units := transcodeBeeps(t, tr, c, uint32(2+i), pkts, func(i int) bool { return i >= h.from && i < h.to })
			t.Logf("without the hole %.4f\nwith the hole    %.4f", ref, holed)
			if len(holed) != 10-h.gone {
				t.Fatalf("%d onsets with the hole, want %d", len(holed), 10-h.gone)
			}
			after := float64(h.to) * 0.02
			for j, o := range holed {
				r := ref[j]
				if o > after {
					r = ref[j+h.gone]
				}
				if d := o - r; math.Abs(d) > 0.001 {
					t.Fatalf("the beep at %.4f s moved by %.2f ms", r, d*1000)
				}
			}
			if len(units) != len(refUnits) || units[len(units)-1].PTS != refUnits[len(refUnits)-1].PTS {
				t.Fatalf("%d units ending at %v with the hole, %d ending at %v without", len(units), units[len(units)-1].PTS,
					len(refUnits), refUnits[len(refUnits)-1].PTS)
			}
		})
	}
}

// TestSilenceRunsOn: a sender stops for 2 s (packets of [2 s, 4 s) never
// come) and the daemon says so (Silence): the units for the silent time
// come before the next packet does, and the beeps after it are where
// they are without the pause.
func TestSilenceRunsOn(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, beeps, 1)[:250]
	c := newCollector()
	tr := start(t, c)
	ref, refUnits := transcodeBeeps(t, tr, c, 1, pkts, nil)
	s, err := tr.Open(2, Params{InputChannels: 1, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, pkts[:100], nil)
	if !s.Silence(4 * time.Second) {
		t.Fatal("silence not taken")
	}
	waitFor(t, "units of the silence", func() bool {
		u := c.units(2)
		return len(u) > 0 && u[len(u)-1].PTS >= 3900*time.Millisecond
	})
	feed(t, s, pkts, func(i int) bool { return i < 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	units := checkTimeline(t, c.of(2), 0)
	path := filepath.Join(t.TempDir(), "paused.aac")
	pts0 := writeADTS(t, path, c.of(2))
	var on []float64
	for _, o := range onsets(decodeClean(t, path)) {
		on = append(on, o+pts0.Seconds())
	}
	t.Logf("without the pause %.4f\nwith the pause    %.4f", ref, on)
	if len(on) != 6 || len(units) != len(refUnits) {
		t.Fatalf("%d onsets (want 6), %d units (want %d)", len(on), len(units), len(refUnits))
	}
	for i, o := range on {
		r := ref[i]
		if i >= 4 {
			r = ref[i+4]
		}
		if math.Abs(o-r) > 0.001 {
			t.Fatalf("the beep at %.4f s moved by %.2f ms", r, (o-r)*1000)
		}
	}
}

// TestCrashRestart kills the child mid-stream: a new one takes over, the
// stream's config comes again (Restart), later packets are encoded on the
// same clock, and the restart is counted.
func TestCrashRestart(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, "sine=f=440:d=5:sample_rate=48000", 2)[:250]
	c := newCollector()
	m := metrics.NewAAC(nil)
	tr := start(t, c, WithMetrics(m))
	s, err := tr.Open(3, Params{})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, pkts[:100], nil)
	waitFor(t, "units up to 1.5 s", func() bool {
		u := c.units(3)
		return len(u) > 0 && u[len(u)-1].PTS >= 1500*time.Millisecond
	})
	pid := tr.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new child", func() bool { return tr.PID() != pid && tr.PID() != 0 })
	for i := 150; i < len(pkts); i++ {
		for !s.Write(time.Duration(i)*20*time.Millisecond, pkts[i]) {
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rs := c.of(3)
	restarted := -1
	for i, r := range rs {
		if r.Kind == KindConfig && r.Restart {
			restarted = i
		}
	}
	if restarted < 0 {
		t.Fatal("no config after the restart")
	}
	after := checkTimeline(t, rs[restarted:], 3*time.Second)
	last := after[len(after)-1]
	if end := last.PTS + last.Duration; end < 4980*time.Millisecond || end > 5050*time.Millisecond {
		t.Fatalf("the units after the restart end at %v, the input at 5 s", end)
	}
	if st := tr.Stats(); st.Restarts != 1 || testutil.ToFloat64(m.Restarts) != 1 {
		t.Fatalf("restarts %d, metric %v", st.Restarts, testutil.ToFloat64(m.Restarts))
	}
	path := filepath.Join(t.TempDir(), "after.aac")
	writeADTS(t, path, rs[restarted:])
	pcm := decodeClean(t, path)
	if tone, empty := testmedia.ToneEnergy(pcm, 440, 200*time.Millisecond, 1800*time.Millisecond),
		testmedia.ToneEnergy(pcm, 2500, 200*time.Millisecond, 1800*time.Millisecond); tone < 1000*empty {
		t.Fatalf("after the restart: 440 Hz %.3g, empty band %.3g", tone, empty)
	}
}

// TestHungManyStreams stops the child (SIGSTOP: alive, silent) with
// eight streams open: it is taken as hung, killed and replaced, and every
// stream goes on in the new child and closes cleanly.
func TestHungManyStreams(t *testing.T) {
	noLeak(t)
	pkts := testmedia.OpusPackets(t, "sine=f=440:d=5:sample_rate=48000", 2)[:250]
	c := newCollector()
	m := metrics.NewAAC(nil)
	tr, err := New(WithBinary(binary(t)), WithOnAAC(c.on), WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	tr.stall = time.Second
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 8
	streams := make([]*Stream, n)
	for i := range streams {
		if streams[i], err = tr.Open(uint32(i), Params{Channels: 1}); err != nil {
			t.Fatal(err)
		}
		feed(t, streams[i], pkts[:100], nil)
	}
	waitFor(t, "units of every stream", func() bool {
		for i := range n {
			if u := c.units(uint32(i)); len(u) == 0 || u[len(u)-1].PTS < 1500*time.Millisecond {
				return false
			}
		}
		return true
	})
	pid := tr.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new child", func() bool { return tr.PID() != pid && tr.PID() != 0 })
	for _, s := range streams {
		for i := 150; i < len(pkts); i++ {
			for !s.Write(time.Duration(i)*20*time.Millisecond, pkts[i]) {
				time.Sleep(time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, s := range streams {
		if err := s.Close(ctx); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		rs := c.of(uint32(i))
		k := len(rs) - 1
		for k >= 0 && !(rs[k].Kind == KindConfig && rs[k].Restart) {
			k--
		}
		if k < 0 {
			t.Fatalf("stream %d: no config after the restart", i)
		}
		after := checkTimeline(t, rs[k:], 3*time.Second)
		if end := after[len(after)-1].PTS + after[len(after)-1].Duration; end < 4980*time.Millisecond {
			t.Fatalf("stream %d ends at %v", i, end)
		}
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if testutil.ToFloat64(m.Restarts) != 1 {
		t.Fatalf("restarts %v", testutil.ToFloat64(m.Restarts))
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLimits: the stream cap, a repeated id, oversize and empty packets,
// a full queue (counted, never blocking), writes after Close.
func TestLimits(t *testing.T) {
	noLeak(t)
	c := newCollector()
	m := metrics.NewAAC(nil)
	tr := start(t, c, WithMaxStreams(2), WithMaxPacket(100), WithQueueLen(4), WithMetrics(m))
	a, err := tr.Open(1, Params{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Open(1, Params{}); !errors.Is(err, ErrStreamOpen) {
		t.Fatalf("repeated id: %v", err)
	}
	if _, err := tr.Open(2, Params{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Open(3, Params{}); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream: %v", err)
	}
	if _, err := tr.Open(4, Params{Channels: 3}); err == nil {
		t.Fatal("3 channels accepted")
	}
	if a.Write(0, make([]byte, 101)) || a.Write(0, nil) {
		t.Fatal("oversize or empty packet taken")
	}
	pkt := []byte{0xf8, 0xff, 0xfe} // 20 ms of silence
	took := 0
	t0 := time.Now()
	for i := range 2000 {
		if a.Write(time.Duration(i)*20*time.Millisecond, pkt) {
			took++
		}
	}
	if el := time.Since(t0); el > 500*time.Millisecond {
		t.Fatalf("2000 writes took %v: Write blocks", el)
	}
	st := tr.Stats()
	if st.Dropped != int64(2000-took)+2 || testutil.ToFloat64(m.Dropped) != float64(st.Dropped) || took == 2000 {
		t.Fatalf("took %d of 2000, dropped %d, metric %v", took, st.Dropped, testutil.ToFloat64(m.Dropped))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Write(100*time.Second, pkt) {
		t.Fatal("a write after Close taken")
	}
	// The id is free again at once (a participant who rejoins).
	again, err := tr.Open(1, Params{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		for !again.Write(time.Duration(i)*20*time.Millisecond, pkt) {
			time.Sleep(time.Millisecond)
		}
	}
	if err := again.Close(ctx); err != nil {
		t.Fatalf("the reopened stream: %v", err)
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Open(5, Params{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("open after Close: %v", err)
	}
	// Stream 2, never written to, was flushed by the transcoder's Close.
	if rs := c.of(2); len(rs) == 0 || rs[len(rs)-1].Kind != KindClosed || rs[len(rs)-1].Err != nil {
		t.Fatalf("stream 2 not closed: %+v", rs)
	}
}

// TestWriteDoesNotAllocate: the packet path, taken or dropped.
func TestWriteDoesNotAllocate(t *testing.T) {
	tr, err := New(WithBinary("/bin/true"), WithQueueLen(64))
	if err != nil {
		t.Fatal(err)
	}
	s := &Stream{t: tr, id: 1, closed: make(chan struct{})}
	pkt := make([]byte, 200)
	for range 64 {
		s.Write(0, pkt) // fills the queue
	}
	if n := testing.AllocsPerRun(1000, func() { s.Write(0, pkt) }); n != 0 {
		t.Fatalf("%v allocations a dropped write", n)
	}
	for len(tr.q) > 0 {
		it := <-tr.q
		tr.pool.Put(it.buf)
	}
	if n := testing.AllocsPerRun(1000, func() {
		s.Write(0, pkt)
		it := <-tr.q
		tr.pool.Put(it.buf)
	}); n != 0 {
		t.Fatalf("%v allocations a taken write", n)
	}
}
