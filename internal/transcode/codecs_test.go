package transcode

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/webm"
)

// convertStreams writes streams into a capture, converts it and returns
// the MP4's path and the result.
func convertStreams(t *testing.T, streams []testmedia.Stream) (string, Result) {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "c.tmp"), filepath.Join(dir, "c.mp4")
	hdr := storage.Header{Channel: "codecs", UID: 7, Start: time.Unix(1_700_000_000, 0), Source: "rtp"}
	testmedia.WriteCapture(t, src, hdr, streams)
	res, err := ConvertFile(context.Background(), src, dst)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	keep(t, dst, t.Name()+".mp4")
	return dst, res
}

// TestConvertCodecs converts VP8, VP9 and AV1 from Debian's ffmpeg
// encoders (libvpx, libvpx-vp9, libaom-av1), clean and with 3 % loss:
// each MP4 decodes silently with ffmpeg -xerror, its video track has the
// codec's sample entry, every sent picture (clean) and the duration
// within 100 ms, and audio beside it.
func TestConvertCodecs(t *testing.T) {
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
			s := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Codec: tc.codec.Name()})
			v, a := s[0], s[1]
			if v.Info.Codec != tc.codec.Name() {
				t.Fatalf("generated %s", v.Info.Codec)
			}
			// vcodec.IsKeyframeStart finds exactly the encoder's keyframes:
			// one a second.
			if n := len(v.KeyframeIndexes()); n != 4 {
				t.Fatalf("%d keyframe starts in 4 s at a 1 s GOP, want 4", n)
			}
			for _, loss := range []float64{0, 0.03} {
				vs := v
				if loss > 0 {
					vs = testmedia.Drop(v, 7, loss)
				}
				dst, res := convertStreams(t, []testmedia.Stream{vs, a})
				if got := checkLayout(t, dst, true, true); got != tc.entry {
					t.Errorf("sample entry %s, want %s", got, tc.entry)
				}
				p := testmedia.ProbeMP4(t, dst)
				pv := p.Stream("video")
				if pv == nil || pv.Codec != tc.name {
					t.Fatalf("video %+v, want codec %s", pv, tc.name)
				}
				if pv.Width != 320 || pv.Height != 240 {
					t.Errorf("video %dx%d", pv.Width, pv.Height)
				}
				if len(res.Tracks) != 2 || res.Tracks[0].Codec != tc.codec.Name() || res.Tracks[0].Samples != pv.Frames {
					t.Errorf("result tracks %+v, ffprobe %d frames", res.Tracks, pv.Frames)
				}
				if loss == 0 {
					if pv.Frames != v.Frames() {
						t.Errorf("video frames = %d, sent %d", pv.Frames, v.Frames())
					}
					if !near(pv.Duration, v.MediaDuration(), durTolerance) || !near(pv.Duration, 4*time.Second, durTolerance) {
						t.Errorf("video duration = %v, sent %v", pv.Duration, v.MediaDuration())
					}
				} else if pv.Frames == 0 || pv.Frames >= v.Frames() {
					// Which pictures survive depends on where the loss
					// falls (the encoder's packet count varies run to
					// run); that what is kept decodes is the point.
					t.Errorf("with %.0f%% loss: %d of %d frames kept", loss*100, pv.Frames, v.Frames())
				}
				if pa := p.Stream("audio"); pa == nil || !near(pa.Duration, a.MediaDuration(), durTolerance) {
					t.Errorf("audio %+v, sent %v", pa, a.MediaDuration())
				}
				t.Logf("%s loss %.0f%%: %d of %d frames, %v, result %+v", tc.codec, loss*100, pv.Frames, v.Frames(), pv.Duration, res)
			}
		})
	}
}

// cvoID is the header extension ID the CVO tests send the orientation
// under, as a browser might negotiate it.
const testCVOID = 4

func withCVOExtension(s testmedia.Stream) testmedia.Stream {
	s.Info.Extensions = []storage.HeaderExtension{{ID: 2, URI: "urn:ietf:params:rtp-hdrext:sdes:mid"},
		{ID: testCVOID, URI: vcodec.CVOURI}}
	return s
}

// TestConvertOrientation: a phone held sideways sends its sensor's
// picture (turned 90 degrees counter-clockwise) with CVO saying "rotate
// 90 degrees clockwise"; the MP4's display matrix makes players show it
// upright, for H.264 and VP8 alike.
func TestConvertOrientation(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, codec := range []vcodec.Codec{vcodec.H264, vcodec.VP8} {
		t.Run(codec.Name(), func(t *testing.T) {
			// transpose=2 turns testsrc2 90 degrees counter-clockwise: the
			// coded picture is 240x320.
			v := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 25, GOP: 25, Video: true,
				Codec: codec.Name(), Transpose: 2})[0]
			v = testmedia.WithCVO(withCVOExtension(v), testCVOID, 0, vcodec.Orientation{Rotation: 90}.Byte())
			dst, res := convertStreams(t, []testmedia.Stream{v})
			p := testmedia.ProbeMP4(t, dst)
			if len(p.Streams) != 1 {
				t.Fatalf("streams %+v, want one video track", p.Streams)
			}
			pv := p.Streams[0]
			if !pv.HasRotation || pv.Rotation != -90 {
				t.Errorf("ffprobe rotation %d (present %v), want -90 (shown turned 90 degrees clockwise)", pv.Rotation, pv.HasRotation)
			}
			if pv.Width != 240 || pv.Height != 320 || pv.Frames != v.Frames() {
				t.Errorf("video %+v, want 240x320 coded, %d frames", pv, v.Frames())
			}
			if res.Tracks[0].Rotation != 90 {
				t.Errorf("result rotation %d", res.Tracks[0].Rotation)
			}
			// Shown with its matrix the picture is 320x240 and upright.
			at := 1500 * time.Millisecond
			testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, dst, 0, at, 320, 240), testmedia.TestPatternRGB(t, at, 320, 240), 320, 240)
		})
	}
}

// TestConvertOrientationChange: the camera turns from 0 to 180 degrees
// halfway. The part shown upside down continues in a second video track
// with a 180-degree matrix, starting where it was sent, so each part
// decodes upright; a change signalled mid-GOP takes effect at the next
// keyframe.
func TestConvertOrientationChange(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	o := testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Video: true, Codec: "VP8"}
	upright := testmedia.Generate(t, o)[0]
	o.Rotate180 = true
	flipped := testmedia.Generate(t, o)[0]
	keys := upright.KeyframeIndexes()
	if len(keys) < 4 {
		t.Fatalf("keyframes at %v", keys)
	}
	for _, tc := range []struct {
		name string
		// signal is the packet index the 180-degree CVO starts on; the
		// pictures after the keyframe at splice are the turned ones.
		signalBefore int // packets before the splice keyframe
	}{
		{"at a keyframe", 0},
		{"mid-GOP", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Both halves are cut at their keyframe at 2 s.
			splice, from := keys[2], flipped.KeyframeIndexes()[2]
			s := testmedia.Concat(testmedia.Slice(upright, 0, splice), testmedia.Slice(flipped, from, len(flipped.Packets)), 0)
			// Mid-GOP, the signal comes on upright pictures before the
			// keyframe: they stay in the first track.
			s = testmedia.WithCVO(withCVOExtension(s), testCVOID, splice-tc.signalBefore, vcodec.Orientation{Rotation: 180}.Byte())
			dst, res := convertStreams(t, []testmedia.Stream{s})
			p := testmedia.ProbeMP4(t, dst)
			if len(p.Streams) != 2 || len(res.Tracks) != 2 {
				t.Fatalf("streams %+v result %+v, want two video tracks", p.Streams, res.Tracks)
			}
			first, second := p.Streams[0], p.Streams[1]
			if first.HasRotation && first.Rotation != 0 {
				t.Errorf("first part rotation %d", first.Rotation)
			}
			if !second.HasRotation || math.Abs(float64(second.Rotation)) != 180 {
				t.Errorf("second part rotation %d (present %v), want 180", second.Rotation, second.HasRotation)
			}
			if first.Frames+second.Frames != s.Frames() {
				t.Errorf("frames %d + %d, sent %d", first.Frames, second.Frames, s.Frames())
			}
			if !near(second.Start, 2*time.Second, durTolerance) || !near(first.Duration, 2*time.Second, durTolerance) ||
				!near(second.Start+second.Duration, 4*time.Second, durTolerance) {
				t.Errorf("first part %v long, second from %v for %v; want the change at 2 s", first.Duration, second.Start, second.Duration)
			}
			at := 3 * time.Second
			testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, dst, 1, at-second.Start, 320, 240), testmedia.TestPatternRGB(t, at, 320, 240), 320, 240)
			testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, dst, 0, time.Second, 320, 240), testmedia.TestPatternRGB(t, time.Second, 320, 240), 320, 240)
		})
	}
}

// TestConvertWebM converts VP8, VP9 and AV1 captures to WebM: the file
// decodes silently with every picture and Opus packet of the MP4 the same
// capture gives, and the same duration; H.264 is refused.
func TestConvertWebM(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, c := range []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1} {
		t.Run(c.Name(), func(t *testing.T) {
			s := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Codec: c.Name()})
			mp4Path, mres := convertStreams(t, s)
			src := strings.TrimSuffix(mp4Path, ".mp4") + ".tmp"
			dst := strings.TrimSuffix(mp4Path, ".mp4") + ".webm"
			res, err := ConvertFileWebM(context.Background(), src, dst)
			if err != nil {
				t.Fatal(err)
			}
			keep(t, dst, t.Name()+".webm")
			p := testmedia.ProbeMP4(t, dst) // decodes silently with -xerror first
			pm := testmedia.ProbeMP4(t, mp4Path)
			v, a, mv, ma := p.Stream("video"), p.Stream("audio"), pm.Stream("video"), pm.Stream("audio")
			if v == nil || a == nil || v.Frames != mv.Frames || a.Frames != ma.Frames || v.Codec != mv.Codec {
				t.Fatalf("webm %+v, mp4 %+v", p.Streams, pm.Streams)
			}
			if !near(p.Duration, pm.Duration, durTolerance) || res.Bytes == 0 || res.Tracks[0].Samples != mres.Tracks[0].Samples {
				t.Errorf("webm lasts %v (%d bytes), mp4 %v", p.Duration, res.Bytes, pm.Duration)
			}
		})
	}
	t.Run("H264 refused", func(t *testing.T) {
		s := testmedia.Generate(t, shortOpts)
		mp4Path, _ := convertStreams(t, s)
		dst := strings.TrimSuffix(mp4Path, ".mp4") + ".webm"
		if _, err := ConvertFileWebM(context.Background(), strings.TrimSuffix(mp4Path, ".mp4")+".tmp", dst); !errors.Is(err, webm.ErrCodec) {
			t.Fatalf("H.264 to WebM: %v", err)
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused conversion left %s", dst)
		}
	})
}
