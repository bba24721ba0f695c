package hls

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestTSResume is TestTrackResume for MPEG-TS tracks: a track made with
// Config.Resume continues the playlist of an earlier run after a Suspend
// and after a crash: one playlist that decodes across the restart, the
// first run's segments still listed, and where the media resumes an
// EXT-X-DISCONTINUITY, Agora's START event and the wall clock.
func TestTSResume(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 6 * time.Second, GOP: 25})
	const downtime = 2 * time.Second
	for _, tc := range []struct {
		name    string
		suspend bool
	}{{"after suspend", true}, {"after crash", false}} {
		for _, s := range streams {
			t.Run(tc.name+"/"+s.Info.Kind, func(t *testing.T) {
				dir := t.TempDir()
				name := "sid_c__uid_s_1__uid_e_" + s.Info.Kind
				cfg := Config{Dir: dir, Name: name, Kind: s.Info.Kind, Codec: s.Info.Codec, ClockRate: s.Info.ClockRate,
					Channels: int(s.Info.Channels), SegmentDuration: time.Second, Container: ContainerTS}
				origin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
				half := len(s.Packets) / 2
				first, err := NewTrack(cfg)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range s.Packets[:half] {
					if err := first.WriteRTP(origin.Add(p.At), p.Data); err != nil {
						t.Fatal(err)
					}
				}
				if tc.suspend {
					if err := first.Suspend(); err != nil {
						t.Fatal(err)
					}
				}
				before := playlistSegments(t, filepath.Join(dir, first.Playlist()))
				cfg.Resume = true
				second, err := NewTrack(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if !second.Resumed() {
					t.Fatal("the track did not take over the playlist")
				}
				resumeAt := origin.Add(s.Packets[half].At + downtime)
				for _, p := range s.Packets[half:] {
					if err := second.WriteRTP(origin.Add(p.At+downtime), p.Data); err != nil {
						t.Fatal(err)
					}
				}
				if err := second.Close(); err != nil {
					t.Fatal(err)
				}
				pl := filepath.Join(dir, second.Playlist())
				testmedia.Decode(t, pl)
				text, _ := os.ReadFile(pl)
				kind := strings.ToUpper(s.Info.Kind)
				if n := strings.Count(string(text), "#EXT-X-DISCONTINUITY"); n != 2 {
					t.Errorf("%d discontinuities, want 2 (the start, the restart):\n%s", n, text)
				}
				if n := strings.Count(string(text), "#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE="+kind+","); n != 2 {
					t.Errorf("%d START events, want 2:\n%s", n, text)
				}
				if n := strings.Count(string(text), "#EXT-X-AGORA-ROTATE:WIDTH=320,HEIGHT=240,ROTATE=0,"); s.Info.Kind == storage.KindVideo && n != 2 {
					t.Errorf("%d ROTATE tags, want one a run (the first run's kept):\n%s", n, text)
				}
				if strings.Contains(string(text), "EXT-X-MAP") || !strings.Contains(string(text), "#EXT-X-VERSION:3\n") {
					t.Errorf("not an MPEG-TS playlist:\n%s", text)
				}
				segs := playlistSegments(t, pl)
				if len(segs) <= len(before) {
					t.Fatalf("%d segments after the restart, %d before", len(segs), len(before))
				}
				for i, sg := range before {
					if segs[i] != sg {
						t.Errorf("segment %d of the first run was %s, now %s", i, sg, segs[i])
					}
				}
				checkTSSegments(t, dir, name, s.Info.Kind, segs)
				// The wall clock is given where the media resumes.
				parts := strings.Split(string(text), "#EXT-X-DISCONTINUITY\n")
				_, date, _ := strings.Cut(parts[len(parts)-1], "#EXT-X-PROGRAM-DATE-TIME:")
				date, _, _ = strings.Cut(date, "\n")
				at, err := time.Parse(pdtLayout, date)
				if err != nil {
					t.Fatalf("no date after the restart: %v\n%s", err, text)
				}
				if d := at.Sub(resumeAt); d < -50*time.Millisecond || d > 2100*time.Millisecond {
					t.Errorf("resumed segment dated %v, media resumed at %v", at, resumeAt)
				}
				frames := countFrames(t, pl, s.Info.Kind)
				lost := 0
				if s.Info.Kind == storage.KindVideo {
					lost = 25 // at most a GOP waits for the next keyframe
				}
				if frames < s.Frames()-lost-50 {
					t.Errorf("%d frames decoded of %d sent", frames, s.Frames())
				}
			})
		}
	}
}

// TestTSResumeMismatch: a TS track does not continue an fMP4 playlist nor
// the other way round, and EndPlaylist ends a TS playlist.
func TestTSResumeMismatch(t *testing.T) {
	a := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, Audio: true})[0]
	for _, c := range []Container{ContainerFMP4, ContainerTS} {
		dir := t.TempDir()
		name := "sid_c__uid_s_2__uid_e_audio"
		tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: storage.KindAudio, Codec: storage.CodecOpus,
			SegmentDuration: time.Second, Container: c})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range a.Packets {
			if err := tr.WriteRTP(feedOrigin.Add(p.At), p.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Suspend(); err != nil {
			t.Fatal(err)
		}
		other := ContainerTS
		if c == ContainerTS {
			other = ContainerFMP4
		}
		if _, err := NewTrack(Config{Dir: dir, Name: name, Kind: storage.KindAudio, Codec: storage.CodecOpus,
			Container: other, Resume: true}); !errors.Is(err, ErrPlaylist) {
			t.Errorf("%v track resuming a %v playlist: %v, want ErrPlaylist", other, c, err)
		}
		var files []File
		if err := EndPlaylist(Config{Dir: dir, Name: name, OnFile: func(f File) { files = append(files, f) }}); err != nil {
			t.Fatalf("EndPlaylist of %v: %v", c, err)
		}
		pl := filepath.Join(dir, name+".m3u8")
		testmedia.Decode(t, pl)
		if _, n := playlistDuration(t, pl); n < 2 || len(files) == 0 {
			t.Errorf("%v: %d segments, files %v", c, n, files)
		}
	}
}
