package hls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// TestMasterPlaylist records one user's video and audio as MPEG-TS and
// joins them in Agora's standard-mode av playlist: ffmpeg reads picture
// and sound from it, each as long as what was sent, and the entries
// follow Agora's "# Audio" and "# Video" comment lines.
func TestMasterPlaylist(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25})
	dir := t.TempDir()
	const base = "sid_chan__uid_s_5__uid_e_"
	var entries [2]MasterEntry
	for i, s := range streams {
		tr, _ := feed(t, dir, base+s.Info.Kind, s, tsConfig)
		entries[i] = tr.MasterEntry()
		if entries[i].Bandwidth <= 0 || entries[i].Codecs == "" {
			t.Errorf("%s entry %+v", s.Info.Kind, entries[i])
		}
	}
	video, audio := entries[0], entries[1]
	if !strings.HasPrefix(video.Codecs, "avc1.42") || audio.Codecs != "opus" {
		t.Errorf("codecs %q, %q", video.Codecs, audio.Codecs)
	}
	for _, tc := range []struct {
		name         string
		audio, video []MasterEntry
		kinds        []string
	}{
		{"audio and video", []MasterEntry{audio}, []MasterEntry{video}, []string{"video", "audio"}},
		// Measured from the files when the caller does not know.
		{"measured", []MasterEntry{{Playlist: audio.Playlist}}, []MasterEntry{{Playlist: video.Playlist}}, []string{"video", "audio"}},
		{"audio only", []MasterEntry{audio}, nil, []string{"audio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := WriteMasterPlaylist(dir, base+"av", tc.audio, tc.video)
			if err != nil {
				t.Fatal(err)
			}
			if f.Name != base+"av.m3u8" || f.Kind != FilePlaylist {
				t.Errorf("file %+v", f)
			}
			text, _ := os.ReadFile(f.Path)
			if strings.Count(string(text), "# Audio\n") != 1 || strings.Count(string(text), "# Video\n") != len(tc.video) {
				t.Errorf("comment lines:\n%s", text)
			}
			if !strings.Contains(string(text), "BANDWIDTH=") || strings.Contains(string(text), "BANDWIDTH=1\n") {
				t.Errorf("bandwidth:\n%s", text)
			}
			if len(tc.video) > 0 && !strings.Contains(string(text), `AUDIO="audio"`) {
				t.Errorf("no audio group:\n%s", text)
			}
			p := testmedia.ProbeMP4(t, f.Path)
			for _, kind := range tc.kinds {
				ps := p.Stream(kind)
				if ps == nil {
					t.Fatalf("no %s stream in the master playlist:\n%s", kind, text)
				}
				if ps.Frames == 0 {
					t.Errorf("%s: no frames", kind)
				}
			}
			if len(tc.kinds) == 2 && p.Stream("video").Frames != streams[0].Frames() {
				t.Errorf("%d video frames, sent %d", p.Stream("video").Frames, streams[0].Frames())
			}
			if n := p.Stream("audio").Frames; n != streams[1].Frames() {
				t.Errorf("%d audio frames, sent %d", n, streams[1].Frames())
			}
			if !near(p.Duration, streams[0].MediaDuration(), durTolerance) {
				t.Errorf("master lasts %v, sent %v", p.Duration, streams[0].MediaDuration())
			}
			for _, kind := range tc.kinds {
				pl := filepath.Join(dir, base+kind+".m3u8")
				if d, _ := playlistDuration(t, pl); !near(d, p.Duration, durTolerance) {
					t.Errorf("%s playlist lasts %v, the master %v", kind, d, p.Duration)
				}
			}
			t.Logf("%s: %+v, %v\n%s", tc.name, p.Streams, p.Duration, text)
		})
	}
	if _, err := WriteMasterPlaylist(dir, "x", nil, nil); err == nil {
		t.Error("empty master playlist written")
	}
	if _, err := WriteMasterPlaylist(dir, "x", []MasterEntry{{Playlist: "../a.m3u8"}}, nil); err == nil {
		t.Error("playlist outside the directory accepted")
	}
}
