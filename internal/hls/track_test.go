package hls

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// feed writes a stream into a new track and closes it.
func feed(t *testing.T, dir, name string, s testmedia.Stream, opts func(*Config)) (*Track, []File) {
	t.Helper()
	var files []File
	cfg := Config{Dir: dir, Name: name, Kind: s.Info.Kind, Codec: s.Info.Codec, ClockRate: s.Info.ClockRate,
		Channels: int(s.Info.Channels), SegmentDuration: time.Second, OnFile: func(f File) { files = append(files, f) }}
	if opts != nil {
		opts(&cfg)
	}
	tr, err := NewTrack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	// Arrival order, which impairments may have changed.
	pkts := append([]testmedia.Packet(nil), s.Packets...)
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].At < pkts[j].At })
	for _, p := range pkts {
		if err := tr.WriteRTP(origin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	return tr, files
}

// playlistDuration sums the EXTINF lines and checks the end marker.
func playlistDuration(t *testing.T, path string) (time.Duration, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total float64
	n, ended := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			sec, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			if err != nil {
				t.Fatalf("bad EXTINF %q", line)
			}
			total += sec
			n++
		}
		ended = ended || line == "#EXT-X-ENDLIST"
	}
	if !ended {
		t.Errorf("%s has no EXT-X-ENDLIST", path)
	}
	return time.Duration(total * float64(time.Second)), n
}

func countFrames(t *testing.T, path, kind string) int {
	t.Helper()
	sel := "v:0"
	if kind == storage.KindAudio {
		sel = "a:0"
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", sel,
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

func TestTrackPlays(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, ZeroLatency: true})
	video, audio := streams[0], streams[1]
	cases := []struct {
		name      string
		stream    testmedia.Stream
		lossy     bool
		minFrames int // at least this many decoded frames
	}{
		{"video", video, false, video.Frames()},
		{"audio", audio, false, audio.Frames()},
		// Loss costs pictures up to the next keyframe, never decodability.
		{"video with loss", testmedia.Drop(video, 7, 0.005), true, video.Frames() / 3},
		{"video reordered and duplicated", testmedia.Duplicate(testmedia.Delay(video, 3, 0.05, 20*time.Millisecond), 5, 0.05, 5*time.Millisecond), true, video.Frames() / 3},
		// Silence fills every hole but one after the last packet.
		{"audio with loss", testmedia.Drop(audio, 7, 0.05), true, audio.Frames() - 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := "sid_chan__uid_s_7__uid_e_" + tc.stream.Info.Kind
			tr, files := feed(t, dir, name, tc.stream, func(c *Config) { c.MP4 = true })
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			got, segs := playlistDuration(t, pl)
			want := tc.stream.MediaDuration()
			if d := got - want; d < -120*time.Millisecond || d > 120*time.Millisecond {
				if !tc.lossy {
					t.Errorf("playlist lasts %v, media %v", got, want)
				}
			}
			if segs < 3 && !tc.lossy {
				t.Errorf("%d segments for %v of media with 1 s segments", segs, want)
			}
			if n := countFrames(t, pl, tc.stream.Info.Kind); n < tc.minFrames {
				t.Errorf("%d frames decoded, want at least %d", n, tc.minFrames)
			} else if !tc.lossy && n != tc.minFrames && tc.stream.Info.Kind == storage.KindVideo {
				t.Errorf("%d frames decoded, want %d", n, tc.minFrames)
			}
			var kinds = map[FileKind]int{}
			for _, f := range files {
				kinds[f.Kind]++
				if f.Kind == FileSegment && !strings.HasPrefix(f.Name, name+"_20250304050") {
					t.Errorf("segment name %q does not carry the UTC start", f.Name)
				}
			}
			if kinds[FileInit] != 1 || kinds[FileSegment] != segs || kinds[FilePlaylist] != segs+1 || kinds[FileMP4] != 1 {
				t.Errorf("files reported: %v", kinds)
			}
			var mp4 string
			for _, f := range files {
				if f.Kind == FileMP4 {
					mp4 = f.Path
				}
			}
			testmedia.Decode(t, mp4)
			if n, m := countFrames(t, mp4, tc.stream.Info.Kind), countFrames(t, pl, tc.stream.Info.Kind); n != m {
				t.Errorf("mp4 has %d frames, playlist %d", n, m)
			}
		})
	}
}

// TestTrackLive checks that the playlist plays while the track is still
// being written, as a player following a live recording sees it.
func TestTrackLive(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, ZeroLatency: true})
	video := streams[0]
	dir := t.TempDir()
	tr, err := NewTrack(Config{Dir: dir, Name: "live_video", Kind: storage.KindVideo, Codec: storage.CodecH264,
		ClockRate: 90000, SegmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Now()
	half := len(video.Packets) / 2
	for _, p := range video.Packets[:half] {
		if err := tr.WriteRTP(origin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if !tr.Started() {
		t.Fatal("no segment after half the media")
	}
	// A player of a live playlist waits for more; what is there so far
	// must decode, so check a copy that says it ends.
	live, err := os.ReadFile(filepath.Join(dir, tr.Playlist()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(live), "#EXT-X-ENDLIST") {
		t.Error("live playlist already ended")
	}
	snapshot := filepath.Join(dir, "snapshot.m3u8")
	if err := os.WriteFile(snapshot, append(live, "#EXT-X-ENDLIST\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	testmedia.Decode(t, snapshot)
	for _, p := range video.Packets[half:] {
		if err := tr.WriteRTP(origin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteRTP(origin, video.Packets[0].Data); err != ErrClosed {
		t.Errorf("write after close: %v", err)
	}
}

// TestTrackSSRCChange checks that a second sender continues the track.
func TestTrackSSRCChange(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second})
	video := streams[0]
	second := testmedia.SetSSRC(testmedia.Rebase(video, 0, 40000, 12345), 0x5555)
	both := testmedia.Concat(video, second, 200*time.Millisecond)
	dir := t.TempDir()
	tr, _ := feed(t, dir, "ssrc_video", both, nil)
	pl := filepath.Join(dir, tr.Playlist())
	testmedia.Decode(t, pl)
	if n, want := countFrames(t, pl, storage.KindVideo), 2*video.Frames(); n != want {
		t.Errorf("%d frames, want %d", n, want)
	}
}

func TestTrackErrors(t *testing.T) {
	if _, err := NewTrack(Config{Dir: t.TempDir(), Name: "x", Kind: storage.KindVideo, Codec: "H265"}); !errors.Is(err, ErrCodec) {
		t.Errorf("H.265: %v, want ErrCodec", err)
	}
	if _, err := NewTrack(Config{Dir: t.TempDir(), Name: "x", Kind: storage.KindAudio, Codec: "VP8"}); !errors.Is(err, ErrCodec) {
		t.Errorf("VP8 as audio: %v, want ErrCodec", err)
	}
	if _, err := NewTrack(Config{Dir: t.TempDir(), Name: "a/b", Kind: storage.KindAudio, Codec: storage.CodecOpus}); err == nil {
		t.Error("name with a slash accepted")
	}
	tr, err := NewTrack(Config{Dir: t.TempDir(), Name: "empty", Kind: storage.KindAudio, Codec: storage.CodecOpus})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteRTP(time.Now(), []byte{1, 2, 3}); err != nil {
		t.Errorf("garbage: %v", err)
	}
	if err := tr.Close(); err != ErrNoMedia {
		t.Errorf("close of an empty track: %v, want ErrNoMedia", err)
	}
}
