package mixfeed

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

var frameCodecs = []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1}

// checkFrames checks VP8, VP9 or AV1 units: all of codec c, the first a
// keyframe, and every one decoded by ffmpeg without an error (written as
// an IVF file), one picture per unit.
func checkFrames(t *testing.T, c vcodec.Codec, units []call) {
	t.Helper()
	if len(units) == 0 {
		t.Fatal("no video units")
	}
	if !units[0].meta.Key {
		t.Fatal("the first unit is not a keyframe")
	}
	for i, u := range units {
		if u.meta.Codec != c {
			t.Fatalf("unit %d is %v, want %v", i, u.meta.Codec, c)
		}
	}
	path := filepath.Join(t.TempDir(), "units.ivf")
	if err := os.WriteFile(path, ivf(c, units), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of the %v units: %v\n%s", c, err, out)
	}
	out, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(bytes.TrimSpace(out))); n != len(units) {
		t.Fatalf("ffprobe decodes %d pictures from %d %v units", n, len(units), c)
	}
}

// ivf writes units as an IVF file (the container of libvpx and libaom's
// tools) with a millisecond time base.
func ivf(c vcodec.Codec, units []call) []byte {
	fourcc := map[vcodec.Codec]string{vcodec.VP8: "VP80", vcodec.VP9: "VP90", vcodec.AV1: "AV01"}[c]
	b := []byte("DKIF")
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, 32)
	b = append(b, fourcc...)
	b = binary.LittleEndian.AppendUint16(b, 320)
	b = binary.LittleEndian.AppendUint16(b, 240)
	b = binary.LittleEndian.AppendUint32(b, 1000)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(units)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, u := range units {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(u.data)))
		b = binary.LittleEndian.AppendUint64(b, uint64(u.pts/1e6))
		b = append(b, u.data...)
	}
	return b
}

// TestLiveFrames feeds clean VP8, VP9 and AV1 streams: one unit per
// frame, keyframes flagged where the stream has them, all decodable.
func TestLiveFrames(t *testing.T) {
	for _, c := range frameCodecs {
		t.Run(c.Name(), func(t *testing.T) {
			media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Video: true, Codec: c.Name()})
			video := media[0]
			m := newSession(t)
			rt := &recTarget{}
			origin := time.Now()
			live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
			remove, _ := m.AddSink("mix", live)
			defer remove()
			feedLive(t, m, 3, origin, media, nil)
			if srcs := rt.sourceOf(t, 3); len(srcs) != 1 || !srcs[0].Video {
				t.Fatalf("joins %+v", srcs)
			}
			vu := rt.of("video", 0)
			if len(vu) != video.Frames() {
				t.Fatalf("%d units, want %d frames", len(vu), video.Frames())
			}
			for i, u := range vu {
				if u.meta.Key != (i%25 == 0) {
					t.Fatalf("unit %d flagged key %v with a GOP of 25", i, u.meta.Key)
				}
			}
			checkFrames(t, c, vu)
			checkSpacing(t, "video", vu, video.FrameDuration(), time.Millisecond, 0)
		})
	}
}

// TestLiveFramesLoss drops one packet inside a VP8, VP9 or AV1 inter
// frame: that frame and the ones after it until the next keyframe never
// reach the target (they refer to what is lost), what does decodes, and a
// keyframe is asked for.
func TestLiveFramesLoss(t *testing.T) {
	for _, c := range frameCodecs {
		t.Run(c.Name(), func(t *testing.T) {
			media := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, GOP: 25, Video: true, VideoBitrate: 2000, Codec: c.Name()})
			video := media[0]
			ts := func(i int) uint32 { return binary.BigEndian.Uint32(video.Packets[i].Data[4:]) }
			// The encoder's GOP is fixed: every 25th frame is a keyframe.
			// (ffmpeg's VP9 packetizer sets no P bit, so the payload
			// descriptor cannot tell.)
			var keys []int
			for i, n := 0, -1; i < len(video.Packets); i++ {
				if i == 0 || ts(i) != ts(i-1) {
					if n++; n%25 == 0 {
						keys = append(keys, i)
					}
				}
			}
			if len(keys) < 2 {
				t.Fatalf("keyframes at %v", keys)
			}
			// A packet of an inter frame between the first two keyframes,
			// not the frame's first.
			lost := -1
			for i := keys[0] + 1; i < keys[1]; i++ {
				if ts(i) == ts(i-1) {
					lost = i
					break
				}
			}
			if lost < 0 {
				t.Fatal("no inter frame of several packets")
			}
			damaged := video.Clone()
			damaged.Packets = append(damaged.Packets[:lost:lost], damaged.Packets[lost+1:]...)
			gone := map[uint32]bool{}
			for i := lost; i < keys[1]; i++ {
				gone[ts(i)] = true
			}
			want := video.Frames() - len(gone)

			m := newSession(t)
			rt := &recTarget{}
			var asked atomic.Int32
			origin := time.Now()
			live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) { asked.Add(1) }))
			remove, _ := m.AddSink("mix", live)
			defer remove()
			// Two seconds in: the join's keyframe request (on the wall
			// clock) does not rate-limit the loss's.
			feedLive(t, m, 9, origin.Add(2*time.Second), []testmedia.Stream{damaged}, nil)
			vu := rt.of("video", 0)
			if len(vu) != want {
				t.Fatalf("%d units, want %d (%d frames, %d lost)", len(vu), want, video.Frames(), len(gone))
			}
			checkFrames(t, c, vu)
			if asked.Load() < 2 {
				t.Fatalf("keyframe asked %d times: at the join and after the loss", asked.Load())
			}
		})
	}
}

// TestLiveOrientation: a stream that declares the camera orientation
// extension and signals 90 degrees from its middle on has its units
// upright before and turned after; the same packets from a stream that
// does not declare the extension are not read for it.
func TestLiveOrientation(t *testing.T) {
	const cvoID = 4
	turn := vcodec.Orientation{Rotation: 90, Flip: true}
	for _, c := range []vcodec.Codec{vcodec.H264, vcodec.VP8} {
		for _, declared := range []bool{true, false} {
			t.Run(c.Name()+"/declared="+strconv.FormatBool(declared), func(t *testing.T) {
				media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Video: true, Codec: c.Name()})
				half := len(media[0].Packets) / 2
				video := testmedia.WithCVO(media[0], cvoID, half, turn.Byte())
				if declared {
					video.Info.Extensions = []storage.HeaderExtension{{ID: 2, URI: "urn:ietf:params:rtp-hdrext:toffset"}, {ID: cvoID, URI: vcodec.CVOURI}}
				}
				m := newSession(t)
				rt := &recTarget{}
				origin := time.Now()
				live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
				remove, _ := m.AddSink("mix", live)
				defer remove()
				feedLive(t, m, 4, origin, []testmedia.Stream{video}, nil)
				vu := rt.of("video", 0)
				if len(vu) != video.Frames() {
					t.Fatalf("%d units, want %d", len(vu), video.Frames())
				}
				// The unit holding packet `half` is the first one turned.
				first := video.Frames() - video.FramesFrom(half)
				for i, u := range vu {
					want := vcodec.Orientation{}
					if declared && i >= first {
						want = turn
					}
					if u.meta.Orientation != want {
						t.Fatalf("unit %d of %d (first turned %d): orientation %+v, want %+v", i, len(vu), first, u.meta.Orientation, want)
					}
				}
			})
		}
	}
}

// TestLiveCodecSwitch: a participant's H.264 stream stops and a VP8
// stream on a new SSRC takes over (a renegotiated call): the units change
// codec with it, the VP8 ones from a keyframe on, and all of each codec
// decode.
func TestLiveCodecSwitch(t *testing.T) {
	h264 := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Video: true})[0]
	vp8 := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, GOP: 25, Video: true, Codec: "VP8"})[0]
	vp8 = setPayloadType(testmedia.Shift(testmedia.SetSSRC(vp8, 0x3000_0003), 2*time.Second+switchIdle), 98)
	m := newSession(t)
	rt := &recTarget{}
	origin := time.Now()
	live := NewLive(rt, origin, WithOnKeyframeNeeded(func(*session.Participant) {}))
	remove, _ := m.AddSink("mix", live)
	defer remove()
	feedLive(t, m, 6, origin, []testmedia.Stream{h264, vp8}, nil)
	var hu, vu []call
	for _, u := range rt.of("video", 0) {
		switch u.meta.Codec {
		case vcodec.H264:
			if len(vu) > 0 {
				t.Fatal("an H.264 unit after the switch to VP8")
			}
			hu = append(hu, u)
		case vcodec.VP8:
			vu = append(vu, u)
		default:
			t.Fatalf("a %v unit", u.meta.Codec)
		}
	}
	if len(hu) != h264.Frames() || len(vu) != vp8.Frames() {
		t.Fatalf("%d H.264 and %d VP8 units, want %d and %d", len(hu), len(vu), h264.Frames(), vp8.Frames())
	}
	checkAUs(t, hu)
	checkFrames(t, vcodec.VP8, vu)
}

// setPayloadType rewrites the payload type of every packet and of the
// stream info.
func setPayloadType(s testmedia.Stream, pt uint8) testmedia.Stream {
	out := s.Clone()
	out.Info.PayloadType = pt
	for _, p := range out.Packets {
		p.Data[1] = p.Data[1]&0x80 | pt
	}
	return out
}
