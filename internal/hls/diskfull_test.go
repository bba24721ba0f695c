package hls

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testfs"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestTrackResumesAfterDiskFull fills the track's filesystem in the
// middle of the media, keeps feeding while writes fail, frees the space
// and checks that the track writes again: a new segment after an
// EXT-X-DISCONTINUITY, a playlist and an MP4 that decode, frames from
// before and after the gap, and no half-written file left behind.
func TestTrackResumesAfterDiskFull(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	streams := testmedia.Generate(t, testmedia.Options{Duration: 9 * time.Second, ZeroLatency: true, GOP: 25})
	for _, s := range streams {
		t.Run(s.Info.Kind, func(t *testing.T) {
			dir := testfs.Small(t, "size=4m")
			var segs []File
			name := "sid_chan__uid_s_9__uid_e_" + s.Info.Kind
			tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: s.Info.Kind, Codec: s.Info.Codec,
				ClockRate: s.Info.ClockRate, Channels: int(s.Info.Channels), SegmentDuration: time.Second, MP4: true,
				OnFile: func(f File) {
					if f.Kind == FileSegment {
						segs = append(segs, f)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			origin := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			var filler string
			var failures, before int
			var lastFailure time.Duration
			for _, p := range s.Packets {
				switch {
				case filler == "" && p.At >= 3*time.Second && failures == 0:
					filler, before = testfs.Fill(t, dir), len(segs)
				case filler != "" && p.At >= 6*time.Second:
					if err := os.Remove(filler); err != nil {
						t.Fatal(err)
					}
					filler = ""
				}
				if err := tr.WriteRTP(origin.Add(p.At), p.Data); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("write error %v, want ENOSPC", err)
					}
					if filler == "" {
						t.Fatalf("write failed with space free: %v", err)
					}
					failures++
					lastFailure = p.At
				}
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if failures == 0 || tr.Gaps() != failures {
				t.Fatalf("%d write failures, %d gaps: the full disk was never hit", failures, tr.Gaps())
			}
			after := len(segs) - before
			if before < 2 || after < 2 {
				t.Fatalf("%d segments before the gap, %d after", before, after)
			}
			pl := filepath.Join(dir, tr.Playlist())
			b, err := os.ReadFile(pl)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "#EXT-X-DISCONTINUITY\n"); n != 1 {
				t.Errorf("%d discontinuities in the playlist, want 1:\n%s", n, b)
			}
			if n := strings.Count(string(b), "#EXT-X-PROGRAM-DATE-TIME:"); n != 2 {
				t.Errorf("%d dates in the playlist, want 2 (start, resume):\n%s", n, b)
			}
			testmedia.Decode(t, pl)
			got, n := playlistDuration(t, pl)
			if n != len(segs) {
				t.Errorf("playlist lists %d segments, %d written", n, len(segs))
			}
			// About 3 s of the 9 were lost, never more than the gap and a GOP.
			if got < 4*time.Second || got > 7*time.Second {
				t.Errorf("playlist lasts %v of 9 s with a 3 s gap", got)
			}
			frames := countFrames(t, pl, s.Info.Kind)
			var mp4 string
			filepath.Walk(dir, func(path string, _ os.FileInfo, _ error) error {
				if strings.HasSuffix(path, ".part") {
					t.Errorf("half-written file left: %s", path)
				}
				if strings.HasSuffix(path, ".mp4") && !strings.HasSuffix(path, "_init.mp4") {
					mp4 = path
				}
				return nil
			})
			testmedia.Decode(t, mp4)
			if m := countFrames(t, mp4, s.Info.Kind); m != frames {
				t.Errorf("mp4 has %d frames, playlist %d", m, frames)
			}
			// The segment after the gap holds nothing older than the last
			// failed write: what that write held is gone, not duplicated.
			resumed := segs[before].Start.Sub(origin)
			if resumed < lastFailure {
				t.Errorf("first segment after the gap starts at %v, before the last failure at %v", resumed, lastFailure)
			}
			t.Logf("%s: %d frames, %v in %d segments (%d before the gap), %d failed writes, resumed at %v",
				s.Info.Kind, frames, got, n, before, failures, resumed)
		})
	}
}

// TestTSResumesAfterDiskFull is TestTrackResumesAfterDiskFull for MPEG-TS
// tracks: after the gap the playlist goes on after an
// EXT-X-DISCONTINUITY and Agora's START event, and decodes silently
// across it (the first packet after the gap says the continuity counters
// jump).
func TestTSResumesAfterDiskFull(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	streams := testmedia.Generate(t, testmedia.Options{Duration: 9 * time.Second, ZeroLatency: true, GOP: 25})
	for _, s := range streams {
		t.Run(s.Info.Kind, func(t *testing.T) {
			dir := testfs.Small(t, "size=4m")
			name := "sid_chan__uid_s_9__uid_e_" + s.Info.Kind
			tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: s.Info.Kind, Codec: s.Info.Codec,
				ClockRate: s.Info.ClockRate, Channels: int(s.Info.Channels), SegmentDuration: time.Second,
				Container: ContainerTS})
			if err != nil {
				t.Fatal(err)
			}
			var filler string
			failures := 0
			for _, p := range s.Packets {
				switch {
				case filler == "" && p.At >= 3*time.Second && failures == 0:
					filler = testfs.Fill(t, dir)
				case filler != "" && p.At >= 6*time.Second:
					if err := os.Remove(filler); err != nil {
						t.Fatal(err)
					}
					filler = ""
				}
				if err := tr.WriteRTP(feedOrigin.Add(p.At), p.Data); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("write error %v, want ENOSPC", err)
					}
					failures++
				}
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if failures == 0 {
				t.Fatal("the full disk was never hit")
			}
			pl := filepath.Join(dir, tr.Playlist())
			b, _ := os.ReadFile(pl)
			if n := strings.Count(string(b), "#EXT-X-DISCONTINUITY\n"); n != 2 {
				t.Errorf("%d discontinuities, want 2 (start, after the gap):\n%s", n, b)
			}
			if n := strings.Count(string(b), "#EXT-X-AGORA-TRACK-EVENT:EVENT=START,"); n != 2 {
				t.Errorf("%d START events, want 2:\n%s", n, b)
			}
			testmedia.Decode(t, pl)
			if got, _ := playlistDuration(t, pl); got < 4*time.Second || got > 7*time.Second {
				t.Errorf("playlist lasts %v of 9 s with a 3 s gap", got)
			}
			checkTSSegments(t, dir, name, s.Info.Kind, playlistSegments(t, pl))
			filepath.Walk(dir, func(path string, _ os.FileInfo, _ error) error {
				if strings.HasSuffix(path, ".part") {
					t.Errorf("half-written file left: %s", path)
				}
				return nil
			})
		})
	}
}
