package hls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// feedOrigin is the wall clock feed starts its packets at.
var feedOrigin = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func tsConfig(c *Config) { c.Container = ContainerTS }

// playlistSegments lists a playlist's segment lines.
func playlistSegments(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			segs = append(segs, line)
		}
	}
	return segs
}

// checkTSSegments checks every segment of a TS playlist: Agora's name
// (the track name, an underscore, the UTC start down to milliseconds),
// MPEG-TS packets starting with the PAT, and that it decodes alone, video
// from a keyframe.
func checkTSSegments(t *testing.T, dir, name, kind string, segs []string) {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `_\d{17}\.ts$`)
	for _, sg := range segs {
		if !re.MatchString(sg) {
			t.Errorf("segment %q is not named %s_<yyyyMMddHHmmssSSS>.ts", sg, name)
		}
		path := filepath.Join(dir, sg)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b)%188 != 0 || b[0] != 0x47 || b[1]&0x1f != 0 || b[2] != 0 {
			t.Fatalf("segment %s: %d bytes, does not start with a PAT packet", sg, len(b))
		}
		testmedia.Decode(t, path)
		if kind == storage.KindVideo {
			if keys := keyFlags(t, path); len(keys) == 0 || !keys[0] {
				t.Errorf("segment %s does not start with a keyframe", sg)
			}
		}
	}
}

// TestTSVideo records H.264 from libx264 as MPEG-TS: the playlist decodes
// silently, lasts what was sent, holds every picture, each segment plays
// alone from a keyframe under Agora's name; reordering within the
// reorder window costs nothing, loss costs pictures up to the next
// keyframe and never decodability.
func TestTSVideo(t *testing.T) {
	v := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, FPS: 25, GOP: 25, Video: true})[0]
	for _, tc := range []struct {
		name  string
		s     testmedia.Stream
		lossy bool
	}{
		{"clean", v, false},
		{"reordered within the window", testmedia.Delay(v, 3, 0.1, 30*time.Millisecond), false},
		{"lossy", testmedia.Drop(v, 7, 0.01), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := "sid_chan__uid_s_7__uid_e_video"
			tr, files := feed(t, dir, name, tc.s, tsConfig)
			if tr.Container() != ContainerTS {
				t.Fatalf("container %v", tr.Container())
			}
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			text, _ := os.ReadFile(pl)
			for _, want := range []string{"#EXT-X-VERSION:3\n", "#EXT-X-ENDLIST\n",
				"#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=20250304050607000\n",
				"#EXT-X-AGORA-ROTATE:WIDTH=320,HEIGHT=240,ROTATE=0,TIME=20250304050607000\n"} {
				if !bytes.Contains(text, []byte(want)) {
					t.Errorf("playlist lacks %q:\n%s", want, text)
				}
			}
			if bytes.Contains(text, []byte("EXT-X-MAP")) || bytes.Count(text, []byte("#EXT-X-DISCONTINUITY")) != 1 {
				t.Errorf("playlist:\n%s", text)
			}
			segs := playlistSegments(t, pl)
			checkTSSegments(t, dir, name, storage.KindVideo, segs)
			got, n := playlistDuration(t, pl)
			frames := countFrames(t, pl, storage.KindVideo)
			if !tc.lossy {
				if !near(got, v.MediaDuration(), durTolerance) {
					t.Errorf("playlist lasts %v, sent %v", got, v.MediaDuration())
				}
				if frames != v.Frames() {
					t.Errorf("%d frames decoded, sent %d", frames, v.Frames())
				}
				if n != 5 {
					t.Errorf("%d segments for 5 s with 1 s segments and a 1 s GOP", n)
				}
				// Segments start at the keyframes, one a second.
				for i, sg := range segs {
					if want := name + "_" + utcName(feedOrigin.Add(time.Duration(i)*time.Second)) + ".ts"; sg != want {
						t.Errorf("segment %d is %s, want %s", i, sg, want)
					}
				}
			} else if frames < v.Frames()/3 {
				t.Errorf("%d frames of %d kept with 1%% loss", frames, v.Frames())
			}
			kinds := map[FileKind]int{}
			for _, f := range files {
				kinds[f.Kind]++
			}
			if kinds[FileInit] != 0 || kinds[FileSegment] != n || kinds[FilePlaylist] != n+1 || kinds[FileMP4] != 0 {
				t.Errorf("files reported: %v", kinds)
			}
			t.Logf("%s: %d of %d frames, %v in %d segments, dropped %d", tc.name, frames, v.Frames(), got, n, tr.Dropped())
		})
	}
}

// TestTSVideoKeyframelessStart: a stream joined mid-GOP writes nothing
// until its first keyframe, which starts the first segment.
func TestTSVideoKeyframelessStart(t *testing.T) {
	v := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true})[0]
	keys := v.KeyframeIndexes()
	if len(keys) < 3 {
		t.Fatalf("keyframes at %v", keys)
	}
	from := (keys[0] + keys[1]) / 2
	s := testmedia.Slice(v, from, len(v.Packets))
	dir := t.TempDir()
	name := "sid_chan__uid_s_8__uid_e_video"
	var files []File
	tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000,
		SegmentDuration: time.Second, Container: ContainerTS, OnFile: func(f File) { files = append(files, f) }})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Packets {
		if from+i == keys[1] && len(files) > 0 {
			t.Fatalf("%d files before the first keyframe", len(files))
		}
		if err := tr.WriteRTP(feedOrigin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	pl := filepath.Join(dir, tr.Playlist())
	testmedia.Decode(t, pl)
	if n, want := countFrames(t, pl, storage.KindVideo), v.FramesFrom(keys[1]); n != want {
		t.Errorf("%d frames, want the %d from the first keyframe on", n, want)
	}
	if want := feedOrigin.Add(v.Packets[keys[1]].At); !files[0].Start.Equal(want) {
		t.Errorf("first segment starts %v, the keyframe arrived %v", files[0].Start, want)
	}
	checkTSSegments(t, dir, name, storage.KindVideo, playlistSegments(t, pl))
}

// TestTSOpus records Opus audio as MPEG-TS (Agora's "original" stream
// mode): it decodes, lasts what was sent, every packet is there.
func TestTSOpus(t *testing.T) {
	a := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, Audio: true})[0]
	dir := t.TempDir()
	name := "sid_chan__uid_s_7__uid_e_audio"
	tr, _ := feed(t, dir, name, a, tsConfig)
	pl := filepath.Join(dir, tr.Playlist())
	testmedia.Decode(t, pl)
	got, n := playlistDuration(t, pl)
	if !near(got, a.MediaDuration(), durTolerance) || n < 4 {
		t.Errorf("playlist lasts %v in %d segments, sent %v", got, n, a.MediaDuration())
	}
	if frames := countFrames(t, pl, storage.KindAudio); frames != a.Frames() {
		t.Errorf("%d frames decoded, sent %d", frames, a.Frames())
	}
	p := testmedia.ProbeMP4(t, pl)
	if pa := p.Stream("audio"); pa == nil || pa.Codec != "opus" {
		t.Errorf("audio %+v, want opus", pa)
	}
	checkTSSegments(t, dir, name, storage.KindAudio, playlistSegments(t, pl))
	pcm := testmedia.DecodeMono(t, "-i", pl)
	if tone, empty := testmedia.ToneEnergy(pcm, 440, time.Second, 4*time.Second), testmedia.ToneEnergy(pcm, 1500, time.Second, 4*time.Second); tone < 100*empty {
		t.Errorf("440 Hz energy %g, 1500 Hz %g", tone, empty)
	}
}

// TestTSOtherCodecs: VP8 asked for in MPEG-TS writes fMP4.
func TestTSOtherCodecs(t *testing.T) {
	tr, err := NewTrack(Config{Dir: t.TempDir(), Name: "x", Kind: storage.KindVideo, Codec: vcodec.VP8.Name(),
		Container: ContainerTS})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Container() != ContainerFMP4 {
		t.Errorf("VP8 container %v, want fmp4", tr.Container())
	}
	if _, err := NewTrack(Config{Dir: t.TempDir(), Name: "x", Kind: storage.KindAudio, Codec: storage.CodecOpus,
		Transcode: func(time.Duration, []byte) {}}); err == nil {
		t.Error("Transcode without MPEG-TS accepted")
	}
}

// ffprobeCodec is the codec_name of path's first stream of kind.
func ffprobeCodec(t *testing.T, path, sel string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", sel, "-show_entries", "stream=codec_name",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	// A playlist's streams are listed again under its program.
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// aacFrames encodes a tone with ffmpeg's AAC encoder to ADTS in channels
// channels and returns its raw access units and AudioSpecificConfig.
func aacFrames(t *testing.T, hz int, d time.Duration, channels int) ([][]byte, []byte) {
	t.Helper()
	testmedia.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "tone.aac")
	if b, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("sine=frequency=%d:sample_rate=48000", hz), "-t", fmt.Sprintf("%.3f", d.Seconds()),
		"-c:a", "aac", "-ac", fmt.Sprint(channels), "-b:a", "96k", "-f", "adts", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg aac: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(b); err != nil {
		t.Fatalf("ADTS: %v", err)
	}
	asc, err := (&mpeg4audio.Config{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate,
		ChannelCount: pkts[0].ChannelCount}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	aus := make([][]byte, len(pkts))
	for i, p := range pkts {
		aus[i] = p.AU
	}
	return aus, asc
}

// TestTSAAC is Agora's default audio: the track hands each Opus packet to
// Config.Transcode and segments the AAC written back with WriteAAC. The
// AAC here is ffmpeg's encode of the same tone, written as an encoder
// would return it, a few frames behind the Opus: the playlist decodes,
// is AAC, lasts what was sent and carries the tone.
func TestTSAAC(t *testing.T) {
	const dur = 5 * time.Second
	a := testmedia.Generate(t, testmedia.Options{Duration: dur, Audio: true})[0]
	aus, asc := aacFrames(t, 440, dur, 2)
	const frame = 1024 * time.Second / 48000
	dir := t.TempDir()
	name := "sid_chan__uid_s_9__uid_e_audio"
	var pts []time.Duration
	tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: storage.KindAudio, Codec: storage.CodecOpus, Channels: 2,
		SegmentDuration: time.Second, Container: ContainerTS,
		Transcode: func(p time.Duration, opus []byte) {
			if len(opus) == 0 {
				t.Error("empty Opus packet")
			}
			pts = append(pts, p)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteAAC(0, aus[0]); !errors.Is(err, ErrAACConfig) {
		t.Errorf("WriteAAC before SetAACConfig: %v", err)
	}
	if err := tr.SetAACConfig(asc); err != nil {
		t.Fatal(err)
	}
	next := 0
	write := func(upTo time.Duration) {
		for ; next < len(aus) && time.Duration(next+1)*frame <= upTo; next++ {
			if err := tr.WriteAAC(time.Duration(next)*frame, aus[next]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range a.Packets {
		if err := tr.WriteRTP(feedOrigin.Add(p.At), p.Data); err != nil {
			t.Fatal(err)
		}
		if len(pts) > 0 {
			write(pts[len(pts)-1] - 3*frame) // the encoder's lag
		}
	}
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	write(time.Hour)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if len(pts) != a.Frames() {
		t.Errorf("%d packets transcoded, sent %d", len(pts), a.Frames())
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; d != 20*time.Millisecond {
			t.Fatalf("packet %d at %v, %v after the one before", i, pts[i], d)
		}
	}
	pl := filepath.Join(dir, tr.Playlist())
	testmedia.Decode(t, pl)
	if c := ffprobeCodec(t, pl, "a:0"); c != "aac" {
		t.Errorf("codec %q, want aac", c)
	}
	got, n := playlistDuration(t, pl)
	if want := time.Duration(len(aus)) * frame; !near(got, want, durTolerance) || !near(got, a.MediaDuration(), durTolerance) || n < 4 {
		t.Errorf("playlist lasts %v in %d segments; AAC %v, Opus sent %v", got, n, want, a.MediaDuration())
	}
	if frames := countFrames(t, pl, storage.KindAudio); frames != len(aus) {
		t.Errorf("%d AAC frames decoded, wrote %d", frames, len(aus))
	}
	checkTSSegments(t, dir, name, storage.KindAudio, playlistSegments(t, pl))
	pcm := testmedia.DecodeMono(t, "-i", pl)
	tone, empty := testmedia.ToneEnergy(pcm, 440, time.Second, 4*time.Second), testmedia.ToneEnergy(pcm, 1500, time.Second, 4*time.Second)
	if tone < 100*empty || tone == 0 {
		t.Errorf("440 Hz energy %g, 1500 Hz %g", tone, empty)
	}
	t.Logf("AAC: %d frames, %v in %d segments, tone %g / empty band %g", len(aus), got, n, tone, empty)
}

// TestTSOrientation: MPEG-TS has no display matrix, so the camera's
// orientation (CVO) goes into Agora's EXT-X-AGORA-ROTATE tag: a phone
// held sideways from the start, and a camera turning 180 degrees halfway,
// where a new segment starts at the first turned keyframe after a
// discontinuity with a tag of its own. Every picture is kept.
func TestTSOrientation(t *testing.T) {
	o := testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true}
	upright := testmedia.Generate(t, o)[0]
	o.Rotate180 = true
	flipped := testmedia.Generate(t, o)[0]
	o = testmedia.Options{Duration: 3 * time.Second, FPS: 25, GOP: 25, Video: true, Transpose: 2}
	sideways := testmedia.Generate(t, o)[0]
	keys := upright.KeyframeIndexes()
	splice := testmedia.Concat(testmedia.Slice(upright, 0, keys[2]), testmedia.Slice(flipped, flipped.KeyframeIndexes()[2], len(flipped.Packets)), 0)
	for _, tc := range []struct {
		name string
		s    testmedia.Stream
		tags []string
	}{
		{"sideways", withCVOExtension(testmedia.WithCVO(sideways, testCVOID, 0, vcodec.Orientation{Rotation: 90}.Byte())),
			[]string{"#EXT-X-AGORA-ROTATE:WIDTH=240,HEIGHT=320,ROTATE=90,TIME=20250304050607000"}},
		{"turning", testmedia.WithCVO(withCVOExtension(splice), testCVOID, keys[2]-20, vcodec.Orientation{Rotation: 180}.Byte()),
			[]string{"#EXT-X-AGORA-ROTATE:WIDTH=320,HEIGHT=240,ROTATE=0,TIME=20250304050607000",
				"#EXT-X-DISCONTINUITY\n#EXT-X-AGORA-ROTATE:WIDTH=320,HEIGHT=240,ROTATE=180,TIME=20250304050609000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := "sid_c__uid_s_6__uid_e_video"
			tr, _ := feed(t, dir, name, tc.s, func(c *Config) {
				c.Container = ContainerTS
				c.CVOID = tc.s.Info.ExtensionID(vcodec.CVOURI)
			})
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			text, _ := os.ReadFile(pl)
			if n := strings.Count(string(text), "#EXT-X-AGORA-ROTATE"); n != len(tc.tags) {
				t.Errorf("%d ROTATE tags, want %d:\n%s", n, len(tc.tags), text)
			}
			for _, tag := range tc.tags {
				if !strings.Contains(string(text), tag+"\n") {
					t.Errorf("no %q in:\n%s", tag, text)
				}
			}
			if n := countFrames(t, pl, storage.KindVideo); n != tc.s.Frames() {
				t.Errorf("%d frames, sent %d", n, tc.s.Frames())
			}
			checkTSSegments(t, dir, name, storage.KindVideo, playlistSegments(t, pl))
		})
	}
}

// TestTSSenders: a second sender continues a TS video track (its own
// parameter sets before its first IDR picture), and lossy Opus fills its
// holes with silence, as in fMP4.
func TestTSSenders(t *testing.T) {
	streams := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second})
	video, audio := streams[0], streams[1]
	second := testmedia.SetSSRC(testmedia.Rebase(video, 0, 40000, 12345), 0x5555)
	for _, tc := range []struct {
		name      string
		s         testmedia.Stream
		minFrames int
		exact     bool
	}{
		{"second video sender", testmedia.Concat(video, second, 200*time.Millisecond), 2 * video.Frames(), true},
		{"audio with loss", testmedia.Drop(audio, 7, 0.05), audio.Frames() - 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := "sid_c__uid_s_4__uid_e_" + tc.s.Info.Kind
			tr, _ := feed(t, dir, name, tc.s, tsConfig)
			pl := filepath.Join(dir, tr.Playlist())
			testmedia.Decode(t, pl)
			n := countFrames(t, pl, tc.s.Info.Kind)
			if n < tc.minFrames || tc.exact && n != tc.minFrames {
				t.Errorf("%d frames, want %d", n, tc.minFrames)
			}
			checkTSSegments(t, dir, name, tc.s.Info.Kind, playlistSegments(t, pl))
		})
	}
}

// TestTSAACConfigChange: an encoder restarted with another configuration
// (mono after stereo) continues the track in a new segment after a
// discontinuity; the playlist decodes across it.
func TestTSAACConfigChange(t *testing.T) {
	stereo, ascStereo := aacFrames(t, 440, 2*time.Second, 2)
	mono, ascMono := aacFrames(t, 440, 2*time.Second, 1)
	const frame = 1024 * time.Second / 48000
	dir := t.TempDir()
	name := "sid_c__uid_s_4__uid_e_audio"
	tr, err := NewTrack(Config{Dir: dir, Name: name, Kind: storage.KindAudio, Codec: storage.CodecOpus,
		SegmentDuration: time.Second, Container: ContainerTS, Transcode: func(time.Duration, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	var pts time.Duration
	for i, part := range []struct {
		asc []byte
		aus [][]byte
	}{{ascStereo, stereo}, {ascMono, mono}} {
		if err := tr.SetAACConfig(part.asc); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		for _, au := range part.aus {
			if err := tr.WriteAAC(pts, au); err != nil {
				t.Fatal(err)
			}
			pts += frame
		}
	}
	if err := tr.SetAACConfig([]byte{0x29, 0x90}); !errors.Is(err, ErrAACConfig) { // HE-AAC (SBR)
		t.Errorf("HE-AAC config: %v, want ErrAACConfig", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	pl := filepath.Join(dir, tr.Playlist())
	testmedia.Decode(t, pl)
	text, _ := os.ReadFile(pl)
	if n := strings.Count(string(text), "#EXT-X-DISCONTINUITY\n"); n != 2 {
		t.Errorf("%d discontinuities, want 2:\n%s", n, text)
	}
	if got, _ := playlistDuration(t, pl); !near(got, pts, durTolerance) {
		t.Errorf("playlist lasts %v, wrote %v", got, pts)
	}
	checkTSSegments(t, dir, name, storage.KindAudio, playlistSegments(t, pl))
}
