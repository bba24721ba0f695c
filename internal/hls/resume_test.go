package hls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
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

// TestTrackResumeTurned: a VP8 sender comes back after a restart with
// its camera turned. The resumed playlist has one discontinuity (the
// restart), a second init segment with the new display matrix, and the
// MP4 comes as one file per init segment, together every picture.
func TestTrackResumeTurned(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	v := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true, Codec: "VP8"})[0]
	v = withCVOExtension(v)
	keys := v.KeyframeIndexes()
	if len(keys) < 4 {
		t.Fatalf("keyframes at %v", keys)
	}
	half := keys[2]
	dir := t.TempDir()
	var files []File
	cfg := Config{Dir: dir, Name: "sid_c__uid_s_8__uid_e_video", Kind: storage.KindVideo, Codec: v.Info.Codec,
		ClockRate: v.Info.ClockRate, SegmentDuration: time.Second, MP4: true, CVOID: testCVOID,
		OnFile: func(f File) { files = append(files, f) }}
	origin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first, err := NewTrack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Packets[:half] {
		if err := first.WriteRTP(origin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Suspend(); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	second, err := NewTrack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	turned := testmedia.WithCVO(testmedia.Slice(v, half, len(v.Packets)), testCVOID, 0, vcodec.Orientation{Rotation: 270}.Byte())
	for _, p := range turned.Packets {
		if err := second.WriteRTP(origin.Add(p.At+time.Second), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	pl := filepath.Join(dir, second.Playlist())
	testmedia.Decode(t, pl)
	text, _ := os.ReadFile(pl)
	runs := playlistRuns(t, pl)
	if n := strings.Count(string(text), "#EXT-X-DISCONTINUITY"); n != 1 || len(runs) != 2 || !runs[1].disc {
		t.Fatalf("%d discontinuities, runs %+v; want one, before the second init segment:\n%s", n, runs, text)
	}
	if pv := testmedia.ProbeMP4(t, concatRun(t, dir, runs[1])).Stream("video"); pv == nil || !pv.HasRotation || pv.Rotation != 90 {
		t.Errorf("second init segment: %+v, want rotation 90 (shown turned 270 degrees clockwise)", pv)
	}
	mp4s := mp4Files(files)
	if len(mp4s) != 2 {
		t.Fatalf("%d MP4s, want one per init segment", len(mp4s))
	}
	total := 0
	for _, m := range mp4s {
		total += testmedia.ProbeMP4(t, m.Path).Stream("video").Frames
	}
	if total != v.Frames() {
		t.Errorf("MP4s hold %d frames, sent %d", total, v.Frames())
	}
}

// TestEndPlaylist: a playlist whose sender never came back is ended
// without knowing its codec, and its MP4 made.
func TestEndPlaylist(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	v := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 25, GOP: 25, Video: true, Codec: "VP9"})[0]
	dir := t.TempDir()
	cfg := Config{Dir: dir, Name: "sid_c__uid_s_9__uid_e_video", Kind: storage.KindVideo, Codec: v.Info.Codec,
		SegmentDuration: time.Second, MP4: true}
	tr, err := NewTrack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Packets {
		if err := tr.WriteRTP(time.Unix(1_700_000_000, 0).Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Suspend(); err != nil {
		t.Fatal(err)
	}
	var files []File
	if err := EndPlaylist(Config{Dir: dir, Name: cfg.Name, MP4: true, OnFile: func(f File) { files = append(files, f) }}); err != nil {
		t.Fatal(err)
	}
	pl := filepath.Join(dir, tr.Playlist())
	if _, n := playlistDuration(t, pl); n < 3 {
		t.Errorf("%d segments", n)
	}
	mp4s := mp4Files(files)
	if len(mp4s) != 1 {
		t.Fatalf("files %+v, want one MP4", files)
	}
	if pv := testmedia.ProbeMP4(t, mp4s[0].Path).Stream("video"); pv == nil || pv.Codec != "vp9" || pv.Frames != v.Frames() {
		t.Errorf("MP4 video %+v, want vp9 with %d frames", pv, v.Frames())
	}
	if err := EndPlaylist(Config{Dir: dir, Name: "nobody"}); err != ErrNoMedia {
		t.Errorf("no playlist: %v, want ErrNoMedia", err)
	}
}
