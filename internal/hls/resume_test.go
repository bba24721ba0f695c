package hls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestTrackResume checks that a track made with Config.Resume continues
// the playlist of an earlier run, after a Suspend (a graceful restart) and
// after nothing at all (a crash): one playlist that decodes across the
// restart, an EXT-X-DISCONTINUITY with the wall clock where the media
// resumes, and an MP4 of everything.
func TestTrackResume(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 6 * time.Second, GOP: 25})
	const downtime = 2 * time.Second
	for _, tc := range []struct {
		name    string
		suspend bool
	}{{"after suspend", true}, {"after crash", false}} {
		for _, s := range streams {
			t.Run(tc.name+"/"+s.Info.Kind, func(t *testing.T) {
				dir := t.TempDir()
				cfg := Config{Dir: dir, Name: "sid_c__uid_s_1__uid_e_" + s.Info.Kind, Kind: s.Info.Kind, Codec: s.Info.Codec,
					ClockRate: s.Info.ClockRate, Channels: int(s.Info.Channels), SegmentDuration: time.Second, MP4: true}
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
				before, err := os.ReadFile(filepath.Join(dir, first.Playlist()))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(before), "#EXT-X-ENDLIST") {
					t.Fatal("a suspended playlist says it ended")
				}
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
				if n := strings.Count(string(text), "#EXT-X-DISCONTINUITY"); n != 1 {
					t.Errorf("%d discontinuities, want 1:\n%s", n, text)
				}
				if n := strings.Count(string(text), "#EXT-X-MAP"); n != 1 {
					t.Errorf("%d init segments named, want 1 (the same sender)", n)
				}
				// Everything the first run listed is still listed, first.
				for _, line := range strings.Split(string(before), "\n") {
					if strings.HasSuffix(line, ".m4s") && !strings.Contains(string(text), line+"\n") {
						t.Errorf("segment %s of the first run is gone", line)
					}
				}
				// The wall clock is given where the media resumes.
				_, after, _ := strings.Cut(string(text), "#EXT-X-DISCONTINUITY\n")
				date, _, _ := strings.Cut(strings.TrimPrefix(after, "#EXT-X-PROGRAM-DATE-TIME:"), "\n")
				at, err := time.Parse(pdtLayout, date)
				if err != nil {
					t.Fatalf("no date after the discontinuity: %v\n%s", err, text)
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
				mp4s, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
				var mp4 string
				for _, m := range mp4s {
					if !strings.Contains(m, "_init") {
						mp4 = m
					}
				}
				if mp4 == "" {
					t.Fatal("no MP4")
				}
				testmedia.Decode(t, mp4)
				if n := countFrames(t, mp4, s.Info.Kind); n != frames {
					t.Errorf("mp4 has %d frames, playlist %d", n, frames)
				}
			})
		}
	}
}

func TestParsePlaylistRefuses(t *testing.T) {
	for name, pl := range map[string]string{
		"path":        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z\n#EXTINF:1.000,\n../x.m4s\n",
		"no duration": "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z\nx.m4s\n",
		"no date":     "#EXTM3U\n#EXTINF:1.000,\nx.m4s\n",
		"bad map":     "#EXT-X-MAP:URI=\"/etc/passwd\"\n",
		"negative":    "#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z\n#EXTINF:-1,\nx.m4s\n",
	} {
		if _, err := parsePlaylist([]byte(pl), "init.mp4"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
