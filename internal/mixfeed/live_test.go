package mixfeed

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

func newSession(t *testing.T) *session.Manager {
	t.Helper()
	m := session.New(storage.Layout{Root: t.TempDir()})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// feedLive joins uid with streams and writes every packet (and extra
// record) at origin + its arrival time, then leaves.
func feedLive(t *testing.T, m *session.Manager, uid uint32, origin time.Time, streams []testmedia.Stream, extra []testmedia.Record) {
	t.Helper()
	var infos []storage.StreamInfo
	for _, s := range streams {
		infos = append(infos, s.Info)
	}
	p, err := m.Join("mix", uid, "rtp", infos)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range merged(streams, extra) {
		kind := storage.RecordRTP
		if a.rtcp {
			kind = storage.RecordRTCP
		}
		_ = p.Write(kind, origin.Add(a.at), a.data)
	}
	p.Leave()
}

func TestLiveUnits(t *testing.T) {
	base := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25, Color: "red", ToneHz: 500})
	video, audio := base[0], base[1]
	for _, tc := range []struct {
		name  string
		video testmedia.Stream
		audio testmedia.Stream
		// tol is how far unit spacing may stray from the frame interval
		// among the first settle units (see checkSpacing).
		tol    time.Duration
		settle int
	}{
		{"clean", video, audio, time.Millisecond, 0},
		{"reordered", testmedia.Delay(video, 7, 0.1, 30*time.Millisecond), testmedia.Delay(audio, 8, 0.1, 30*time.Millisecond), 31 * time.Millisecond, 25},
		{"duplicated", testmedia.Duplicate(video, 9, 0.1, 20*time.Millisecond), audio, time.Millisecond, 0},
		{"decorated", testmedia.Decorate(video), testmedia.Decorate(audio), time.Millisecond, 0},
		{"padding", testmedia.InsertPadding(video, 5), audio, time.Millisecond, 0},
		{"single nal units", splitSTAP(t, video), audio, time.Millisecond, 0},
		{"no marker bits", clearMarkers(video), audio, time.Millisecond, 0},
		{"jittered arrival", testmedia.Delay(video, 3, 1, 15*time.Millisecond), testmedia.Delay(audio, 4, 1, 15*time.Millisecond), 16 * time.Millisecond, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSession(t)
			rt := &recTarget{}
			var asked atomic.Int32
			origin := time.Now()
			live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) { asked.Add(1) }))
			remove, err := m.AddSink("mix", live)
			if err != nil {
				t.Fatal(err)
			}
			defer remove()
			feedLive(t, m, 42, origin.Add(time.Second), []testmedia.Stream{tc.video, tc.audio}, nil)
			srcs := rt.sourceOf(t, 42)
			if len(srcs) != 1 || !srcs[0].Video || !srcs[0].Audio {
				t.Fatalf("joins %+v", srcs)
			}
			id := srcs[0].ID
			if n := len(rt.of("leave", id)); n != 1 {
				t.Fatalf("%d leaves", n)
			}
			vu, au := rt.of("video", id), rt.of("audio", id)
			if len(vu) != video.Frames() {
				t.Fatalf("%d video units, want %d frames", len(vu), video.Frames())
			}
			if len(au) != audio.Frames() {
				t.Fatalf("%d audio units, want %d packets", len(au), audio.Frames())
			}
			checkAUs(t, vu)
			checkSpacing(t, "video", vu, video.FrameDuration(), tc.tol, tc.settle)
			checkSpacing(t, "audio", au, audio.FrameDuration(), tc.tol, tc.settle*2)
			// PTS count from the origin: the participant started 1 s in.
			if d := time.Duration(vu[0].pts) - time.Second; d < 0 || d > 50*time.Millisecond {
				t.Fatalf("first video unit at %v, want 1 s", time.Duration(vu[0].pts))
			}
			if asked.Load() < 1 {
				t.Fatal("no keyframe asked for at the join")
			}
		})
	}
}

// TestLiveSenderReports shifts the video's arrival by 200 ms; sender
// reports saying both streams are in sync put them back together.
// Without reports the shift stays: the test can fail.
func TestLiveSenderReports(t *testing.T) {
	base := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25})
	video, audio := testmedia.Shift(base[0], 200*time.Millisecond), base[1]
	sender := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		reports bool
		// from drops the reports before it: the feed places the units
		// by arrival until both streams have one.
		from time.Duration
		want time.Duration
	}{
		{"with reports", true, 0, 0},
		{"reports after a second", true, 900 * time.Millisecond, 0},
		{"without reports", false, 0, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []testmedia.Record
			if tc.reports {
				for _, r := range append(testmedia.SenderReports(video, sender, time.Second), testmedia.SenderReports(audio, sender, time.Second)...) {
					if r.At >= tc.from {
						extra = append(extra, r)
					}
				}
			}
			m := newSession(t)
			rt := &recTarget{}
			origin := time.Now()
			live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
			remove, _ := m.AddSink("mix", live)
			defer remove()
			feedLive(t, m, 7, origin, []testmedia.Stream{video, audio}, extra)
			vu, au := rt.of("video", 0), rt.of("audio", 0)
			if len(vu) != video.Frames() || len(au) != audio.Frames() {
				t.Fatalf("%d video, %d audio units", len(vu), len(au))
			}
			// Compare the units in the middle: both streams started at
			// the same instant of the sender's clock.
			v := vu[len(vu)/2]
			vMedia := time.Duration(len(vu)/2) * video.FrameDuration()
			// The audio unit sampled at the same media time.
			ai := int(vMedia / audio.FrameDuration())
			a := au[ai]
			aMedia := time.Duration(ai) * audio.FrameDuration()
			skew := time.Duration(v.pts-a.pts) - (vMedia - aMedia)
			if d := skew - tc.want; d < -20*time.Millisecond || d > 20*time.Millisecond {
				t.Fatalf("video is %v after audio, want %v", skew, tc.want)
			}
			if tc.from == 0 {
				checkSpacing(t, "video", vu, video.FrameDuration(), time.Millisecond, 0)
			} else {
				// The switch to the reports' clock moves the video back
				// 200 ms: its units stay in order (they bunch up).
				checkSpacing(t, "video", vu, video.FrameDuration(), time.Second, 1<<30)
				checkSpacing(t, "audio", au, audio.FrameDuration(), time.Millisecond, 0)
			}
		})
	}
}

// TestLiveLoss drops one fragment of a P picture: that picture and the
// ones after it until the next keyframe never reach the target, no
// damaged unit does, and a keyframe is asked for.
func TestLiveLoss(t *testing.T) {
	base := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25, Video: true, VideoBitrate: 2000})
	video := base[0]
	keys := video.KeyframeIndexes()
	if len(keys) < 3 {
		t.Fatalf("keyframes at %v", keys)
	}
	// A non-first FU-A fragment of a P picture between the first two keyframes.
	lost := -1
	for i := keys[0] + 1; i < keys[1]; i++ {
		pl := video.Packets[i].Data[12:]
		if pl[0]&0x1f == 28 && pl[1]&0x80 == 0 && !testmedia.IsKeyframeStart(video.Packets[i].Data) {
			lost = i
			break
		}
	}
	if lost < 0 {
		t.Fatal("no fragmented P picture")
	}
	damaged := video.Clone()
	damaged.Packets = append(damaged.Packets[:lost:lost], damaged.Packets[lost+1:]...)
	// The pictures from the damaged one to the next keyframe are lost.
	ts := func(i int) uint32 { return binary.BigEndian.Uint32(video.Packets[i].Data[4:]) }
	gone := map[uint32]bool{}
	for i := lost; i < keys[1]; i++ {
		gone[ts(i)] = true
	}
	want := video.Frames() - len(gone)

	m := newSession(t)
	rt := &recTarget{}
	var asked atomic.Int32
	origin := time.Now()
	live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) { asked.Add(1) }))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	feedLive(t, m, 9, origin.Add(2*time.Second), []testmedia.Stream{damaged}, nil)
	vu := rt.of("video", 0)
	if len(vu) != want {
		t.Fatalf("%d units, want %d (%d frames, %d lost)", len(vu), want, video.Frames(), len(gone))
	}
	checkAUs(t, vu)
	if asked.Load() < 2 {
		t.Fatalf("keyframe asked %d times: at the join and after the loss", asked.Load())
	}
	if srcs := rt.sourceOf(t, 9); len(srcs) != 1 || !srcs[0].Video || srcs[0].Audio {
		t.Fatalf("joins %+v", srcs)
	}
}

// TestLiveFilter: a participant the filter refuses never joins; Refresh
// brings it in once the filter takes it and takes it out again; ids are
// never reused; Present follows.
func TestLiveFilter(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25})
	m := newSession(t)
	rt := &recTarget{}
	var want2 atomic.Bool
	var changes atomic.Int32
	origin := time.Now()
	live := NewLive(rt, origin,
		WithFilter(func(p *session.Participant, _ storage.RecordKind) bool { return p.UID() != 2 || want2.Load() }),
		WithOnMembership(func() { changes.Add(1) }),
		WithOnKeyframeNeeded(func(*session.Participant) {}))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	infos := []storage.StreamInfo{media[0].Info, media[1].Info}
	p1, _ := m.Join("mix", 1, "rtp", infos)
	p2, _ := m.Join("mix", 2, "rtp", infos)
	send := func(from, to int) {
		for _, a := range merged(media, nil)[from:to] {
			_ = p1.Write(storage.RecordRTP, origin.Add(a.at), a.data)
			_ = p2.Write(storage.RecordRTP, origin.Add(a.at), a.data)
		}
	}
	n := len(merged(media, nil))
	send(0, n/3)
	if got := live.Present(); len(got) != 1 || got[0].UID != "1" {
		t.Fatalf("present %+v", got)
	}
	want2.Store(true)
	live.Refresh()
	send(n/3, 2*n/3)
	if got := live.Present(); len(got) != 2 || got[1].UID != "2" {
		t.Fatalf("present %+v", got)
	}
	want2.Store(false)
	live.Refresh()
	send(2*n/3, n)
	want2.Store(true)
	live.Refresh()
	p1.Leave()
	p2.Leave()
	srcs := rt.sourceOf(t, 2)
	if len(srcs) != 2 || srcs[0].ID == srcs[1].ID || srcs[1].ID <= 2 {
		t.Fatalf("uid 2 joins %+v", srcs)
	}
	if len(rt.of("video", srcs[0].ID)) == 0 {
		t.Fatal("uid 2 sent nothing while subscribed")
	}
	if len(rt.of("leave", 0)) != 3 || changes.Load() != 6 {
		t.Fatalf("%d leaves, %d membership changes", len(rt.of("leave", 0)), changes.Load())
	}
	if got := live.Present(); len(got) != 0 {
		t.Fatalf("present after the leaves %+v", got)
	}
}

// TestNewOrigin: the two readings are one instant on two clocks: a
// duration measured on Go's monotonic clock matches CLOCK_MONOTONIC.
func TestNewOrigin(t *testing.T) {
	o1, m1, err := NewOrigin()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	o2, m2, _ := NewOrigin()
	if d := o2.Sub(o1) - time.Duration(m2-m1); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("clocks disagree by %v", d)
	}
}

// splitSTAP sends the NAL units of every STAP-A packet (ffmpeg
// aggregates the parameter sets with small pictures) as single NAL unit
// packets, renumbering the sequence.
func splitSTAP(t *testing.T, s testmedia.Stream) testmedia.Stream {
	t.Helper()
	out := testmedia.Stream{Info: s.Info}
	splits := 0
	for _, p := range s.Packets {
		pl := p.Data[12:]
		if pl[0]&0x1f != 24 {
			out.Packets = append(out.Packets, testmedia.Packet{Data: append([]byte(nil), p.Data...), At: p.At})
			continue
		}
		splits++
		for b := pl[1:]; len(b) > 2; {
			n := int(binary.BigEndian.Uint16(b))
			d := append([]byte(nil), p.Data[:12]...)
			d[1] &^= 0x80
			d = append(d, b[2:2+n]...)
			b = b[2+n:]
			if len(b) <= 2 {
				d[1] |= p.Data[1] & 0x80
			}
			out.Packets = append(out.Packets, testmedia.Packet{Data: d, At: p.At})
		}
	}
	if splits == 0 {
		t.Fatal("no STAP-A packet")
	}
	seq := binary.BigEndian.Uint16(out.Packets[0].Data[2:])
	for i := range out.Packets {
		binary.BigEndian.PutUint16(out.Packets[i].Data[2:], seq+uint16(i))
	}
	return out
}

// clearMarkers clears every marker bit: units end at a timestamp change.
func clearMarkers(s testmedia.Stream) testmedia.Stream {
	out := s.Clone()
	for i := range out.Packets {
		out.Packets[i].Data[1] &^= 0x80
	}
	return out
}

// TestLiveSlices: pictures of two slices, each fragmented, are one unit.
func TestLiveSlices(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Video: true, ZeroLatency: true, VideoBitrate: 2000})
	m := newSession(t)
	rt := &recTarget{}
	origin := time.Now()
	live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	feedLive(t, m, 5, origin, media, nil)
	vu := rt.of("video", 0)
	if len(vu) != media[0].Frames() {
		t.Fatalf("%d units, want %d", len(vu), media[0].Frames())
	}
	slices := 0
	for _, typ := range nalTypes(vu[1].data) {
		if typ == 1 {
			slices++
		}
	}
	if slices < 2 {
		t.Fatalf("unit 1 holds %d slices: the encoder did not split", slices)
	}
	checkAUs(t, vu)
}

// TestLiveConcurrent: participants' packets come from several reader
// goroutines at once (audio and video of one participant on two sockets);
// every unit still arrives, each source's PTS rising.
func TestLiveConcurrent(t *testing.T) {
	red := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "blue", ToneHz: 880})
	m := newSession(t)
	rt := &recTarget{}
	origin := time.Now()
	live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	var ps []*session.Participant
	var wg sync.WaitGroup
	for uid, media := range [][]testmedia.Stream{red, blue} {
		p, err := m.Join("mix", uint32(uid+1), "rtp", []storage.StreamInfo{media[0].Info, media[1].Info})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		for _, s := range media {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, pk := range s.Packets {
					_ = p.Write(storage.RecordRTP, origin.Add(pk.At), pk.Data)
				}
			}()
		}
	}
	wg.Wait()
	for _, p := range ps {
		p.Leave()
	}
	for uid, media := range [][]testmedia.Stream{red, blue} {
		srcs := rt.sourceOf(t, uint32(uid+1))
		if len(srcs) != 1 {
			t.Fatalf("joins %+v", srcs)
		}
		vu, au := rt.of("video", srcs[0].ID), rt.of("audio", srcs[0].ID)
		if len(vu) != media[0].Frames() || len(au) != media[1].Frames() {
			t.Fatalf("uid %d: %d video, %d audio units", uid+1, len(vu), len(au))
		}
		checkSpacing(t, "video", vu, media[0].FrameDuration(), time.Millisecond, 0)
		checkSpacing(t, "audio", au, media[1].FrameDuration(), time.Millisecond, 0)
	}
}
