package mixfeed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

var recStart = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// capture describes one capture file of a test recording.
type capture struct {
	name    string
	uid     uint32
	start   time.Duration // after recStart
	streams []testmedia.Stream
	extra   []testmedia.Record
}

func writeRecording(t *testing.T, caps []capture) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range caps {
		testmedia.WriteCapture(t, filepath.Join(dir, c.name), storage.Header{Version: storage.FormatVersion,
			Channel: "class", UID: c.uid, Start: recStart.Add(c.start)}, c.streams, c.extra...)
	}
	return dir
}

// checkOrder checks the calls' global order: media PTS never go back, a
// source joins right before its first unit and leaves right after its
// last one, and ids are never reused.
func checkOrder(t *testing.T, calls []call) {
	t.Helper()
	var last int64 = -1
	state := map[uint32]string{}
	for i, c := range calls {
		switch c.op {
		case "join":
			if state[c.id] != "" {
				t.Fatalf("call %d: source %d joins again", i, c.id)
			}
			if i+1 >= len(calls) || calls[i+1].id != c.id || (calls[i+1].op != "video" && calls[i+1].op != "audio") {
				t.Fatalf("call %d: join of %d not right before its first unit", i, c.id)
			}
			state[c.id] = "in"
		case "leave":
			if state[c.id] != "in" || i == 0 || calls[i-1].id != c.id {
				t.Fatalf("call %d: leave of %d not right after its last unit", i, c.id)
			}
			state[c.id] = "out"
		default:
			if state[c.id] != "in" {
				t.Fatalf("call %d: unit of %d outside join/leave", i, c.id)
			}
			if c.pts < last {
				t.Fatalf("call %d: pts %v before %v", i, time.Duration(c.pts), time.Duration(last))
			}
			last = c.pts
		}
	}
	for id, s := range state {
		if s != "out" {
			t.Fatalf("source %d never left", id)
		}
	}
}

func TestOfflineTwoParticipants(t *testing.T) {
	red := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25, Color: "red", ToneHz: 440})
	blue := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "blue", ToneHz: 880})
	// uid 2 joins 1 s after uid 1 and leaves 1 s before.
	dir := writeRecording(t, []capture{
		{name: "1_070809.tmp", uid: 1, streams: red},
		{name: "2_070810.tmp", uid: 2, start: time.Second, streams: blue},
	})
	rt := &recTarget{}
	info, err := Offline(dir, rt)
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rt.calls)
	if !info.Start.Equal(recStart) || len(info.Participants) != 2 {
		t.Fatalf("info %+v", info)
	}
	if d := info.Duration - 4*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("duration %v, want 4 s", info.Duration)
	}
	for _, tc := range []struct {
		uid     uint32
		streams []testmedia.Stream
		first   time.Duration
	}{{1, red, 0}, {2, blue, time.Second}} {
		srcs := rt.sourceOf(t, tc.uid)
		if len(srcs) != 1 || !srcs[0].Video || !srcs[0].Audio {
			t.Fatalf("uid %d: joins %+v", tc.uid, srcs)
		}
		vu, au := rt.of("video", srcs[0].ID), rt.of("audio", srcs[0].ID)
		if len(vu) != tc.streams[0].Frames() || len(au) != tc.streams[1].Frames() {
			t.Fatalf("uid %d: %d video %d audio units, want %d %d", tc.uid, len(vu), len(au),
				tc.streams[0].Frames(), tc.streams[1].Frames())
		}
		checkAUs(t, vu)
		checkSpacing(t, "video", vu, tc.streams[0].FrameDuration(), time.Millisecond, 0)
		checkSpacing(t, "audio", au, tc.streams[1].FrameDuration(), time.Millisecond, 0)
		for _, first := range []int64{vu[0].pts, au[0].pts} {
			if d := time.Duration(first) - tc.first; d < 0 || d > 5*time.Millisecond {
				t.Fatalf("uid %d starts at %v, want %v", tc.uid, time.Duration(first), tc.first)
			}
		}
	}
	// The early leaver's last unit comes before the other's at 3 s.
	p2 := info.Participants[1]
	if p2.UID != 2 || p2.Last > 3*time.Second || p2.Last < 2900*time.Millisecond {
		t.Fatalf("participant 2: %+v", p2)
	}
}

// TestOfflineSenderReports: the video arrives 200 ms late; sender
// reports saying it is in sync put it back, offline as live.
func TestOfflineSenderReports(t *testing.T) {
	base := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25})
	video, audio := testmedia.Shift(base[0], 200*time.Millisecond), base[1]
	sender := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		reports bool
		want    time.Duration
	}{{"with reports", true, 0}, {"without reports", false, 200 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []testmedia.Record
			if tc.reports {
				extra = append(testmedia.SenderReports(video, sender, time.Second), testmedia.SenderReports(audio, sender, time.Second)...)
			}
			dir := writeRecording(t, []capture{{name: "5_070809.tmp", uid: 5, streams: []testmedia.Stream{video, audio}, extra: extra}})
			rt := &recTarget{}
			if _, err := Offline(dir, rt); err != nil {
				t.Fatal(err)
			}
			checkOrder(t, rt.calls)
			vu, au := rt.of("video", 0), rt.of("audio", 0)
			if len(vu) != video.Frames() || len(au) != audio.Frames() {
				t.Fatalf("%d video, %d audio units", len(vu), len(au))
			}
			skew := time.Duration(vu[0].pts - au[0].pts)
			if d := skew - tc.want; d < -20*time.Millisecond || d > 20*time.Millisecond {
				t.Fatalf("video starts %v after audio, want %v", skew, tc.want)
			}
			checkSpacing(t, "video", vu, video.FrameDuration(), time.Millisecond, 0)
			checkSpacing(t, "audio", au, audio.FrameDuration(), time.Millisecond, 0)
		})
	}
}

// TestOfflineRejoin: a participant who left and came back has two
// captures, which are two sources with one UID; a live capture is skipped.
func TestOfflineRejoin(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "green"})
	dir := writeRecording(t, []capture{
		{name: "3_070809.tmp", uid: 3, streams: media},
		{name: "3_070813.tmp", uid: 3, start: 4 * time.Second, streams: media},
	})
	w, err := storage.Create(filepath.Join(dir, "4_070809.tmp"), storage.Header{Version: storage.FormatVersion, UID: 4, Start: recStart})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rt := &recTarget{}
	info, err := Offline(dir, rt)
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rt.calls)
	srcs := rt.sourceOf(t, 3)
	if len(srcs) != 2 || srcs[0].ID == srcs[1].ID {
		t.Fatalf("joins %+v", srcs)
	}
	if len(info.Skipped) != 1 || info.Skipped[0] != "4_070809.tmp" {
		t.Fatalf("skipped %v", info.Skipped)
	}
	second := rt.of("video", srcs[1].ID)
	if d := time.Duration(second[0].pts) - 4*time.Second; d < 0 || d > 5*time.Millisecond {
		t.Fatalf("the second capture starts at %v", time.Duration(second[0].pts))
	}
	if len(second) != media[0].Frames() {
		t.Fatalf("%d units", len(second))
	}
	if _, err := Offline(t.TempDir(), rt); !errors.Is(err, ErrNoCaptures) {
		t.Fatalf("empty directory: %v", err)
	}
}

// TestOfflineBounded: a capture much longer than the holdback is not
// loaded whole.
func TestOfflineBounded(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 24 * time.Second, GOP: 50, Width: 160, Height: 120})
	dir := writeRecording(t, []capture{{name: "8_070809.tmp", uid: 8, streams: media}})
	rt := &recTarget{}
	info, err := Offline(dir, rt)
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rt.calls)
	total := media[0].Frames() + media[1].Frames()
	if len(rt.calls) != total+2 {
		t.Fatalf("%d calls for %d units", len(rt.calls), total)
	}
	// The holdback (7 s) and a little more of 24 s.
	if info.MaxQueued == 0 || info.MaxQueued > total*9/24 {
		t.Fatalf("%d of %d units held at once", info.MaxQueued, total)
	}
	t.Logf("%d of %d units held at once", info.MaxQueued, total)
}

func TestOfflineCancelled(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "green"})
	dir := writeRecording(t, []capture{{name: "3_070809.tmp", uid: 3, streams: media}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OfflineContext(ctx, dir, &recTarget{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestOfflineTorn: a capture cut mid-record (a crash) is used up to the
// damage, and says so.
func TestOfflineTorn(t *testing.T) {
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Color: "green"})
	dir := writeRecording(t, []capture{{name: "3_070809.tmp", uid: 3, streams: media}})
	path := filepath.Join(dir, "3_070809.tmp")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()*2/3); err != nil {
		t.Fatal(err)
	}
	rt := &recTarget{}
	info, err := Offline(dir, rt)
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rt.calls)
	if len(info.Participants) != 1 || !info.Participants[0].Torn {
		t.Fatalf("info %+v", info)
	}
	vu := rt.of("video", 0)
	if len(vu) < media[0].Frames()/3 || len(vu) >= media[0].Frames() {
		t.Fatalf("%d of %d pictures", len(vu), media[0].Frames())
	}
	checkAUs(t, vu)
}
