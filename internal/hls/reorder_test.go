package hls

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// arrive returns s with its packets arriving in the given order of
// indexes, at the arrival times of the original positions (so arrival
// times still only grow, as on a wire).
func arrive(s testmedia.Stream, order []int) testmedia.Stream {
	out := testmedia.Stream{Info: s.Info}
	for i, j := range order {
		out.Packets = append(out.Packets, testmedia.Packet{Data: bytes.Clone(s.Packets[j].Data), At: s.Packets[i].At})
	}
	return out
}

func identity(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

// swapEvery swaps packet i and i+1 for every i that is phase mod n.
func swapEvery(s testmedia.Stream, n, phase int) testmedia.Stream {
	order := identity(len(s.Packets))
	for i := phase; i+1 < len(order); i += n {
		order[i], order[i+1] = order[i+1], order[i]
	}
	return arrive(s, order)
}

// lateBy3Every makes every n-th packet arrive after the 3 that follow it.
func lateBy3Every(s testmedia.Stream, n int) testmedia.Stream {
	order := identity(len(s.Packets))
	for i := n / 2; i+3 < len(order); i += n {
		late := order[i]
		copy(order[i:i+3], order[i+1:i+4])
		order[i+3] = late
	}
	return arrive(s, order)
}

func timestamp(t *testing.T, pkt []byte) uint32 {
	t.Helper()
	var p rtp.Packet
	if err := p.Unmarshal(pkt); err != nil {
		t.Fatal(err)
	}
	return p.Timestamp
}

// tooLate delays, past the reorder window, the second packet of a
// picture in the middle of the second GOP. It returns the stream and the
// number of pictures lost with it: that picture up to the next keyframe.
func tooLate(t *testing.T, s testmedia.Stream) (testmedia.Stream, int) {
	t.Helper()
	keys := s.KeyframeIndexes()
	if len(keys) < 3 {
		t.Fatalf("need 3 keyframes, have %d", len(keys))
	}
	i := (keys[1] + keys[2]) / 2
	for timestamp(t, s.Packets[i].Data) == timestamp(t, s.Packets[i-1].Data) ||
		timestamp(t, s.Packets[i].Data) != timestamp(t, s.Packets[i+1].Data) {
		i++ // the first packet of a picture of two or more
	}
	lost := testmedia.Stream{Packets: s.Packets[i:keys[2]]}.Frames()
	out := s.Clone()
	out.Packets[i+1].At += 3 * reorderWindow
	return out, lost
}

// TestTrackReorder checks that packets out of order within the window
// cost nothing, duplicates are dropped, and a packet later than the
// window costs the pictures up to the next keyframe, as a loss does.
func TestTrackReorder(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, ZeroLatency: true})
	video, audio := streams[0], streams[1]
	dup := testmedia.Duplicate(video, 11, 0.05, 5*time.Millisecond)
	late, lost := tooLate(t, video)
	cases := []struct {
		name    string
		stream  testmedia.Stream
		frames  int
		dropped int
	}{
		{"video in order", video, video.Frames(), 0},
		{"video neighbours swapped every 7", swapEvery(video, 7, 3), video.Frames(), 0},
		{"video packet 3 late every 40", lateBy3Every(video, 40), video.Frames(), 0},
		{"video delayed up to 60 ms", testmedia.Delay(video, 5, 0.1, 60*time.Millisecond), video.Frames(), 0},
		{"audio neighbours swapped every 5", swapEvery(audio, 5, 2), audio.Frames(), 0},
		{"audio packet 3 late every 20", lateBy3Every(audio, 20), audio.Frames(), 0},
		{"video duplicates", dup, video.Frames(), len(dup.Packets) - len(video.Packets)},
		// The late packet and every picture it cost.
		{"video packet later than the window", late, video.Frames() - lost, 1 + lost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tr, _ := feed(t, dir, "reorder_"+tc.stream.Info.Kind, tc.stream, nil)
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			if n := countFrames(t, pl, tc.stream.Info.Kind); n != tc.frames {
				t.Errorf("%d frames decoded, want %d", n, tc.frames)
			}
			if tr.Dropped() != tc.dropped {
				t.Errorf("Dropped() = %d, want %d", tr.Dropped(), tc.dropped)
			}
		})
	}
}

// firstFrames is the start of s up to n pictures.
func firstFrames(t *testing.T, s testmedia.Stream, n int) testmedia.Stream {
	t.Helper()
	end, seen := 0, 0
	for end < len(s.Packets) {
		if end == 0 || timestamp(t, s.Packets[end].Data) != timestamp(t, s.Packets[end-1].Data) {
			if seen == n {
				break
			}
			seen++
		}
		end++
	}
	return testmedia.Slice(s, 0, end)
}

// TestTrackFlushes checks that packets still held by the reorder buffer
// (a stream's start waits one window for a packet that may have been
// overtaken) are written when another sender takes over and on Close.
func TestTrackFlushes(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second})
	video := streams[0]
	// Two pictures, 40 ms: less than the window, so still held.
	short := firstFrames(t, video, 2)
	if d := short.Packets[len(short.Packets)-1].At - short.Packets[0].At; d >= reorderWindow || len(short.Packets) >= reorderSlots/2 {
		t.Fatalf("the short stream (%v, %d packets) is not held by the buffer", d, len(short.Packets))
	}
	second := testmedia.SetSSRC(testmedia.Rebase(video, 0, 40000, 12345), 0x5555)
	second = testmedia.Shift(second, short.Packets[len(short.Packets)-1].At+40*time.Millisecond-second.Packets[0].At)
	both := testmedia.Stream{Info: video.Info, Packets: append(append([]testmedia.Packet(nil), short.Packets...), second.Packets...)}
	cases := []struct {
		name   string
		stream testmedia.Stream
		frames int
	}{
		{"held packets then close", short, 2},
		{"held packets then another sender", both, 2 + video.Frames()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tr, _ := feed(t, dir, "flush_video", tc.stream, nil)
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			if n := countFrames(t, pl, storage.KindVideo); n != tc.frames {
				t.Errorf("%d frames, want %d", n, tc.frames)
			}
			if tr.Dropped() != 0 {
				t.Errorf("Dropped() = %d", tr.Dropped())
			}
		})
	}
}
