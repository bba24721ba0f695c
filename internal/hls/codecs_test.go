package hls

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// durTolerance is how far a duration may be from what was sent.
const durTolerance = 100 * time.Millisecond

func near(a, b, tol time.Duration) bool { return a-b <= tol && b-a <= tol }

// testCVOID is the header extension ID the orientation tests send CVO
// under, as a browser might negotiate it.
const testCVOID = 4

func withCVOExtension(s testmedia.Stream) testmedia.Stream {
	s.Info.Extensions = []storage.HeaderExtension{{ID: 2, URI: "urn:ietf:params:rtp-hdrext:sdes:mid"},
		{ID: testCVOID, URI: vcodec.CVOURI}}
	return s
}

// cvoConfig sets the track's CVO ID from the stream's declared
// extensions, as cloudrec does.
func cvoConfig(s testmedia.Stream) func(*Config) {
	return func(c *Config) {
		c.CVOID = s.Info.ExtensionID(vcodec.CVOURI)
		c.MP4 = true
	}
}

// mapRun is the init segment an EXT-X-MAP names and the media segments
// listed under it.
type mapRun struct {
	init string
	segs []string
	// disc: an EXT-X-DISCONTINUITY comes before the run's first segment.
	disc bool
}

// playlistRuns reads a playlist as runs of segments sharing an init
// segment.
func playlistRuns(t *testing.T, path string) []mapRun {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var runs []mapRun
	disc := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "#EXT-X-DISCONTINUITY":
			disc = true
		case strings.HasPrefix(line, "#EXT-X-MAP:URI="):
			runs = append(runs, mapRun{init: strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`), disc: disc})
		case line != "" && !strings.HasPrefix(line, "#"):
			if len(runs) == 0 {
				t.Fatalf("segment %s before any EXT-X-MAP", line)
			}
			runs[len(runs)-1].segs = append(runs[len(runs)-1].segs, line)
			disc = false
		}
	}
	return runs
}

// concatRun writes a run's init segment and media segments into one
// file, which is what a player fetching the playlist decodes.
func concatRun(t *testing.T, dir string, r mapRun) string {
	t.Helper()
	var all []byte
	for _, name := range append([]string{r.init}, r.segs...) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(r.init, ".mp4")+"_run.mp4")
	if err := os.WriteFile(out, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleEntry is the type of an init segment's sample entry.
func sampleEntry(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil || f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil {
		t.Fatalf("init segment %s: %v", path, err)
	}
	stsd := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd
	if len(stsd.Children) != 1 {
		t.Fatalf("init segment %s: %d sample entries", path, len(stsd.Children))
	}
	return stsd.Children[0].Type()
}

func mp4Files(files []File) []File {
	var out []File
	for _, f := range files {
		if f.Kind == FileMP4 {
			out = append(out, f)
		}
	}
	return out
}

// keyFlags lists, per decoded picture of path in order, whether ffprobe
// says it is a keyframe: the bitstream's word, not the RTP payload
// descriptor's (ffmpeg's VP9 packetizer marks every frame as one).
func keyFlags(t *testing.T, path string) []bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	var keys []bool
	for _, line := range strings.Fields(string(out)) {
		keys = append(keys, strings.HasPrefix(line, "K"))
	}
	return keys
}

// keptAfterLoss is how many pictures of sent survive the loss that left
// got: a picture is kept if all of its packets arrived and, after a
// picture with a loss, only from the next whole keyframe on (the first
// picture must be a keyframe too). key says which sent pictures are
// keyframes.
func keptAfterLoss(sent, got testmedia.Stream, key []bool) int {
	arrived := map[uint16]bool{}
	for _, p := range got.Packets {
		arrived[binary.BigEndian.Uint16(p.Data[2:])] = true
	}
	kept, needKey := 0, true
	for i, n := 0, 0; i < len(sent.Packets); n++ {
		j, whole := i, true
		ts := binary.BigEndian.Uint32(sent.Packets[i].Data[4:])
		for ; j < len(sent.Packets) && binary.BigEndian.Uint32(sent.Packets[j].Data[4:]) == ts; j++ {
			whole = whole && arrived[binary.BigEndian.Uint16(sent.Packets[j].Data[2:])]
		}
		switch {
		case !whole:
			needKey = true
		case n < len(key) && key[n]:
			kept, needKey = kept+1, false
		case !needKey:
			kept++
		}
		i = j
	}
	return kept
}

// TestTrackCodecs records VP8, VP9 and AV1 from Debian's ffmpeg encoders
// (libvpx, libvpx-vp9, libaom-av1), clean and with 3 % loss: the playlist
// and the MP4 decode silently with ffmpeg -xerror, the init segment has
// the codec's sample entry; clean, every sent picture is there and the
// playlist lasts what was sent, lossy, exactly the pictures a decoder can
// decode are kept.
func TestTrackCodecs(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, tc := range []struct {
		codec vcodec.Codec
		entry string // sample entry
		name  string // ffprobe codec_name
	}{
		{vcodec.VP8, "vp08", "vp8"},
		{vcodec.VP9, "vp09", "vp9"},
		{vcodec.AV1, "av01", "av1"},
	} {
		t.Run(tc.codec.Name(), func(t *testing.T) {
			v := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true,
				Codec: tc.codec.Name()})[0]
			if v.Info.Codec != tc.codec.Name() || len(v.KeyframeIndexes()) < 3 {
				t.Fatalf("generated %s with keyframes at %v", v.Info.Codec, v.KeyframeIndexes())
			}
			var keys []bool // per sent picture, from the clean run
			for _, loss := range []float64{0, 0.03} {
				s := v
				if loss > 0 {
					s = testmedia.Drop(v, 7, loss)
				}
				dir := t.TempDir()
				tr, files := feed(t, dir, "sid_c__uid_s_3__uid_e_video", s, func(c *Config) { c.MP4 = true })
				pl := filepath.Join(dir, tr.Playlist())
				testmedia.Decode(t, pl)
				runs := playlistRuns(t, pl)
				if len(runs) != 1 {
					t.Fatalf("%d init segments, want 1", len(runs))
				}
				if got := sampleEntry(t, filepath.Join(dir, runs[0].init)); got != tc.entry {
					t.Errorf("sample entry %s, want %s", got, tc.entry)
				}
				frames := countFrames(t, pl, storage.KindVideo)
				got, segs := playlistDuration(t, pl)
				mp4s := mp4Files(files)
				if len(mp4s) != 1 {
					t.Fatalf("%d MP4s, want 1", len(mp4s))
				}
				p := testmedia.ProbeMP4(t, mp4s[0].Path)
				pv := p.Stream("video")
				if pv == nil || pv.Codec != tc.name || pv.Width != 320 || pv.Height != 240 {
					t.Fatalf("MP4 video %+v, want %s 320x240", pv, tc.name)
				}
				if pv.Frames != frames {
					t.Errorf("MP4 has %d frames, playlist %d", pv.Frames, frames)
				}
				if loss == 0 {
					if frames != v.Frames() {
						t.Fatalf("%d frames decoded, sent %d", frames, v.Frames())
					}
					keys = keyFlags(t, pl)
					if !near(got, v.MediaDuration(), durTolerance) || !near(pv.Duration, v.MediaDuration(), durTolerance) {
						t.Errorf("playlist lasts %v, MP4 %v, sent %v", got, pv.Duration, v.MediaDuration())
					}
					if segs < 3 {
						t.Errorf("%d segments for 4 s with 1 s segments and a 1 s GOP", segs)
					}
				} else if want := keptAfterLoss(v, s, keys); frames != want || want == 0 {
					t.Errorf("with %.0f%% loss: %d of %d frames kept, want %d", loss*100, frames, v.Frames(), want)
				}
				t.Logf("%s loss %.0f%%: %d of %d frames, %v in %d segments, dropped %d", tc.codec, loss*100, frames,
					v.Frames(), got, segs, tr.Dropped())
			}
		})
	}
}

// TestTrackOrientation: a phone held sideways sends its sensor's picture
// (turned 90 degrees counter-clockwise) with CVO saying "rotate 90
// degrees clockwise"; the init segment's display matrix says so, for
// H.264 and VP8 alike, and a track without a declared CVO extension
// ignores the bytes.
func TestTrackOrientation(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, codec := range []vcodec.Codec{vcodec.H264, vcodec.VP8} {
		t.Run(codec.Name(), func(t *testing.T) {
			v := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 25, GOP: 25, Video: true,
				Codec: codec.Name(), Transpose: 2})[0]
			turned := testmedia.WithCVO(v, testCVOID, 0, vcodec.Orientation{Rotation: 90}.Byte())
			for _, declared := range []bool{true, false} {
				s := turned
				if declared {
					s = withCVOExtension(s)
				}
				dir := t.TempDir()
				tr, files := feed(t, dir, "sid_c__uid_s_5__uid_e_video", s, cvoConfig(s))
				pl := filepath.Join(dir, tr.Playlist())
				testmedia.Decode(t, pl)
				runs := playlistRuns(t, pl)
				if len(runs) != 1 {
					t.Fatalf("%d init segments, want 1", len(runs))
				}
				for _, path := range []string{concatRun(t, dir, runs[0]), mp4Files(files)[0].Path} {
					pv := testmedia.ProbeMP4(t, path).Stream("video")
					if pv == nil || pv.Width != 240 || pv.Height != 320 || pv.Frames != v.Frames() {
						t.Fatalf("%s: video %+v, want 240x320 coded, %d frames", filepath.Base(path), pv, v.Frames())
					}
					switch {
					case declared && (!pv.HasRotation || pv.Rotation != -90):
						t.Errorf("%s: ffprobe rotation %d (present %v), want -90 (shown turned 90 degrees clockwise)",
							filepath.Base(path), pv.Rotation, pv.HasRotation)
					case !declared && pv.HasRotation && pv.Rotation != 0:
						t.Errorf("%s: rotation %d without a declared CVO extension", filepath.Base(path), pv.Rotation)
					}
				}
			}
		})
	}
}

// TestTrackOrientationChange: the camera turns from 0 to 180 degrees
// halfway. The track starts a new segment at the keyframe where the
// turned pictures begin, listed after an EXT-X-DISCONTINUITY with a
// second init segment whose matrix says 180; a change signalled mid-GOP
// takes effect at the next keyframe. Every picture is kept, and the MP4
// comes as one file per orientation.
func TestTrackOrientationChange(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, codec := range []vcodec.Codec{vcodec.VP8, vcodec.H264} {
		o := testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true, Codec: codec.Name()}
		upright := testmedia.Generate(t, o)[0]
		o.Rotate180 = true
		flipped := testmedia.Generate(t, o)[0]
		keys := upright.KeyframeIndexes()
		if len(keys) < 4 {
			t.Fatalf("keyframes at %v", keys)
		}
		for _, tc := range []struct {
			name string
			// signalBefore is how many packets before the splice keyframe
			// the 180-degree CVO starts.
			signalBefore int
		}{
			{"at a keyframe", 0},
			{"mid-GOP", 20},
		} {
			t.Run(codec.Name()+"/"+tc.name, func(t *testing.T) {
				// Both halves are cut at their keyframe at 2 s.
				splice, from := keys[2], flipped.KeyframeIndexes()[2]
				s := testmedia.Concat(testmedia.Slice(upright, 0, splice), testmedia.Slice(flipped, from, len(flipped.Packets)), 0)
				s = testmedia.WithCVO(withCVOExtension(s), testCVOID, splice-tc.signalBefore, vcodec.Orientation{Rotation: 180}.Byte())
				dir := t.TempDir()
				tr, files := feed(t, dir, "sid_c__uid_s_6__uid_e_video", s, cvoConfig(s))
				pl := filepath.Join(dir, tr.Playlist())
				testmedia.Decode(t, pl)
				if n := countFrames(t, pl, storage.KindVideo); n != s.Frames() {
					t.Errorf("playlist: %d frames, sent %d", n, s.Frames())
				}
				runs := playlistRuns(t, pl)
				if len(runs) != 2 || runs[0].disc || !runs[1].disc || runs[0].init == runs[1].init {
					text, _ := os.ReadFile(pl)
					t.Fatalf("runs %+v, want two init segments, the second after a discontinuity:\n%s", runs, text)
				}
				var parts []testmedia.ProbeStream
				for i, r := range runs {
					pv := testmedia.ProbeMP4(t, concatRun(t, dir, r)).Stream("video")
					if pv == nil {
						t.Fatalf("run %d: no video", i)
					}
					parts = append(parts, *pv)
				}
				if parts[0].HasRotation && parts[0].Rotation != 0 {
					t.Errorf("first init segment: rotation %d", parts[0].Rotation)
				}
				if !parts[1].HasRotation || math.Abs(float64(parts[1].Rotation)) != 180 {
					t.Errorf("second init segment: rotation %d (present %v), want 180", parts[1].Rotation, parts[1].HasRotation)
				}
				if before := s.Frames() - s.FramesFrom(splice); parts[0].Frames != before {
					t.Errorf("first part %d frames, want the %d before the turned keyframe", parts[0].Frames, before)
				}
				// The second part's segments start where the turned
				// pictures do, on the recording's time line.
				var secondStart time.Duration
				for _, f := range files {
					if f.Kind == FileSegment && f.Name == runs[1].segs[0] {
						secondStart = f.Start.Sub(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC))
					}
				}
				if !near(secondStart, 2*time.Second, durTolerance) {
					t.Errorf("second part starts at %v, want 2 s", secondStart)
				}
				mp4s := mp4Files(files)
				if len(mp4s) != 2 {
					t.Fatalf("%d MP4s, want one per orientation", len(mp4s))
				}
				total := 0
				for i, m := range mp4s {
					pv := testmedia.ProbeMP4(t, m.Path).Stream("video")
					if pv == nil || pv.Frames != parts[i].Frames || pv.HasRotation != parts[i].HasRotation ||
						pv.Rotation != parts[i].Rotation || pv.Start != 0 {
						t.Errorf("MP4 %s: %+v, want what its run of the playlist has, from 0: %+v", m.Name, pv, parts[i])
					}
					if pv != nil {
						total += pv.Frames
					}
				}
				if total != s.Frames() {
					t.Errorf("MP4s hold %d frames, sent %d", total, s.Frames())
				}
			})
		}
	}
}
