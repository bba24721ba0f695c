package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// cvoExtID is the header extension ID the tests' senders declare for
// the camera orientation.
const cvoExtID = 3

// joinCodec joins uid with one video stream in codec (and the CVO
// extension when cvo is set) and one Opus stream.
func (d *daemon) joinCodec(channel string, uid, videoSSRC, audioSSRC uint32, codec vcodec.Codec, cvo bool) participant {
	d.t.Helper()
	video := map[string]any{"ssrc": videoSSRC, "payloadType": testmedia.VideoPayloadType, "codec": codec.Name(), "clockRate": 90000}
	if cvo {
		video["extensions"] = []map[string]any{{"id": cvoExtID, "uri": vcodec.CVOURI}}
	}
	var p participant
	code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": uid, "key": nowKey(rdk.Service4Media, channel, uid),
		"streams": []map[string]any{video,
			{"ssrc": audioSSRC, "payloadType": testmedia.AudioPayloadType, "codec": "opus", "clockRate": 48000, "channels": 2}},
	}, &p)
	if code != http.StatusCreated || p.ID == "" || p.RTPPort == 0 {
		d.t.Fatalf("join uid %d (%s): status %d %+v", uid, codec, code, p)
	}
	p.VideoSSRC, p.AudioSSRC = videoSSRC, audioSSRC
	return p
}

// sendCodecMedia runs a live ffmpeg sender (-re) of video in codec (the
// encoder settings testmedia uses: libvpx, libvpx-vp9) and Opus to port.
func sendCodecMedia(ctx context.Context, port int, codec vcodec.Codec, videoSSRC, audioSSRC uint32, seconds float64) *exec.Cmd {
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	dur := strconv.FormatFloat(seconds, 'f', 2, 64)
	args := []string{"-hide_banner", "-loglevel", "error",
		"-re", "-t", dur, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-re", "-t", dur, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v"}
	args = append(args, testmedia.VideoCodecArgs(testmedia.Options{FPS: 25, GOP: 25, VideoBitrate: 450}, codec)...)
	args = append(args, "-f", "rtp", "-ssrc", strconv.FormatUint(uint64(videoSSRC), 10),
		"-payload_type", strconv.Itoa(int(testmedia.VideoPayloadType)), url,
		"-map", "1:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(audioSSRC), 10),
		"-payload_type", strconv.Itoa(int(testmedia.AudioPayloadType)), url)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stdout = io.Discard
	return cmd
}

// TestRecordVP8VP9AV1 records one channel whose participants send VP8
// and VP9 (live ffmpeg senders, libvpx) and AV1 (Debian ffmpeg's
// libaom-av1, packetized by pion's AV1 payloader and replayed in real
// time) over plain RTP, each with Opus: every capture declares its codec
// and converts on stop to an MP4 that decodes silently, with the codec's
// sample entry, every picture sent and the sent duration.
func TestRecordVP8VP9AV1(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const channel = "codecs"
	const seconds = 4.0
	vp8 := d.joinCodec(channel, 1, 0x1801, 0x2801, vcodec.VP8, false)
	vp9 := d.joinCodec(channel, 2, 0x1901, 0x2901, vcodec.VP9, false)
	av1 := d.joinCodec(channel, 3, 0x1a01, 0x2a01, vcodec.AV1, false)
	a := d.startRecording(channel, 1, "")
	if !a.Started {
		t.Fatalf("start: %+v", a)
	}
	av1Media := testmedia.Generate(t, testmedia.Options{Duration: seconds * time.Second, FPS: 25, GOP: 25, Codec: "AV1"})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	senders := []*exec.Cmd{
		sendCodecMedia(ctx, vp8.RTPPort, vcodec.VP8, vp8.VideoSSRC, vp8.AudioSSRC, seconds),
		sendCodecMedia(ctx, vp9.RTPPort, vcodec.VP9, vp9.VideoSSRC, vp9.AudioSSRC, seconds),
	}
	for _, s := range senders {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	replay := newMediaSender(t, av1.RTPPort, av1Media, av1.VideoSSRC, av1.AudioSSRC)
	defer replay.close()
	if err := replay.send(ctx, 1, 0); err != nil {
		t.Fatalf("AV1 sender: %v", err)
	}
	for _, s := range senders {
		if err := s.Wait(); err != nil {
			t.Fatalf("ffmpeg sender: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the last packets reach the captures
	d.stopRecording(channel, 1)

	want := map[string]struct {
		codec        vcodec.Codec
		probe, entry string
		frames       int
	}{
		"1": {vcodec.VP8, "vp8", "vp08", 100},
		"2": {vcodec.VP9, "vp9", "vp09", 100},
		"3": {vcodec.AV1, "av1", "av01", av1Media[0].Frames()},
	}
	captures, _ := filepath.Glob(filepath.Join(a.Directory, "*.tmp"))
	if len(captures) != 3 {
		t.Fatalf("captures: %v", captures)
	}
	for _, c := range captures {
		m := captureName.FindStringSubmatch(filepath.Base(c))
		w, ok := want[m[1]]
		if m == nil || !ok {
			t.Fatalf("capture %s", c)
		}
		s := summarize(t, c)
		var declared string
		for _, st := range s.Header.Streams {
			if st.Kind == storage.KindVideo {
				declared = st.Codec
			}
		}
		if declared != w.codec.Name() {
			t.Errorf("uid %s: capture declares video %q, want %s", m[1], declared, w.codec)
		}
		mp4 := strings.TrimSuffix(c, ".tmp") + ".mp4"
		waitFor(t, mp4, 60*time.Second, func() bool { _, err := os.Stat(mp4); return err == nil })
		p := testmedia.ProbeMP4(t, mp4) // decodes silently with -xerror first
		v, au := p.Stream("video"), p.Stream("audio")
		if v == nil || v.Codec != w.probe || au == nil || au.Codec != "opus" {
			t.Fatalf("uid %s: streams %+v, want %s and opus", m[1], p.Streams, w.probe)
		}
		// A live sender's first keyframe may come a moment before the
		// capture takes media, so allow two pictures fewer; never more.
		if v.Frames < w.frames-2 || v.Frames > w.frames {
			t.Errorf("uid %s (%s): %d pictures, sent %d", m[1], w.codec, v.Frames, w.frames)
		}
		if math.Abs((v.Duration - seconds*time.Second).Seconds()) > 0.15 {
			t.Errorf("uid %s (%s): video lasts %v, sent %v s", m[1], w.codec, v.Duration, seconds)
		}
		if e := sampleEntry(t, mp4); e != w.entry {
			t.Errorf("uid %s: sample entry %q, want %s", m[1], e, w.entry)
		}
		t.Logf("uid %s %s: %d pictures, %v, audio %v", m[1], w.codec, v.Frames, v.Duration, au.Duration)
	}
}

// sampleEntry is the video sample entry's four-character code, read by
// ffprobe (codec_tag_string).
func sampleEntry(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_tag_string",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// TestRecordCameraOrientation: two senders declare CVO at join. One holds
// its phone sideways the whole time (the picture is coded turned 90
// degrees counter-clockwise, CVO says to show it turned 90 clockwise);
// the other turns its camera upside down halfway (0, then 180 degrees).
// The MP4s carry display matrices (ffprobe's rotation side data, one
// track per orientation) and a picture decoded as players show it has
// the test pattern's top-left corner at its top-left.
func TestRecordCameraOrientation(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const channel = "phones"
	side := d.joinCodec(channel, 1, 0x3101, 0x4101, vcodec.H264, true)
	turn := d.joinCodec(channel, 2, 0x3201, 0x4201, vcodec.VP8, true)
	a := d.startRecording(channel, 1, "")
	if !a.Started {
		t.Fatalf("start: %+v", a)
	}
	o := testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Transpose: 2}
	sideMedia := testmedia.Generate(t, o)
	sideMedia[0] = testmedia.WithCVO(sideMedia[0], cvoExtID, 0, vcodec.Orientation{Rotation: 90}.Byte())

	o = testmedia.Options{Duration: 4 * time.Second, FPS: 25, GOP: 25, Codec: "VP8"}
	upright := testmedia.Generate(t, o)
	o.Rotate180 = true
	flipped := testmedia.Generate(t, o)
	cut, from := upright[0].KeyframeIndexes()[2], flipped[0].KeyframeIndexes()[2] // at 2 s
	turnVideo := testmedia.Concat(testmedia.Slice(upright[0], 0, cut), testmedia.Slice(flipped[0], from, len(flipped[0].Packets)), 0)
	turnVideo = testmedia.WithCVO(turnVideo, cvoExtID, 0, 0)
	turnVideo = testmedia.WithCVO(stripCVO(turnVideo, cut), cvoExtID, cut, vcodec.Orientation{Rotation: 180}.Byte())
	turnMedia := []testmedia.Stream{turnVideo, upright[1]}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for _, s := range []struct {
		p     participant
		media []testmedia.Stream
	}{{side, sideMedia}, {turn, turnMedia}} {
		snd := newMediaSender(t, s.p.RTPPort, s.media, s.p.VideoSSRC, s.p.AudioSSRC)
		defer snd.close()
		go func() { errs <- snd.send(ctx, 1, 0) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("sender: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	d.stopRecording(channel, 1)

	mp4s := map[string]string{}
	captures, _ := filepath.Glob(filepath.Join(a.Directory, "*.tmp"))
	for _, c := range captures {
		m := captureName.FindStringSubmatch(filepath.Base(c))
		mp4 := strings.TrimSuffix(c, ".tmp") + ".mp4"
		waitFor(t, mp4, 60*time.Second, func() bool { _, err := os.Stat(mp4); return err == nil })
		mp4s[m[1]] = mp4
	}
	if len(mp4s) != 2 {
		t.Fatalf("recordings %v", mp4s)
	}

	// Sideways: one video track, shown turned 90 degrees clockwise.
	p := testmedia.ProbeMP4(t, mp4s["1"])
	v := p.Stream("video")
	if v == nil || !v.HasRotation || v.Rotation != -90 || v.Width != 240 || v.Height != 320 {
		t.Fatalf("sideways phone: %+v, want a 240x320 picture with rotation -90", p.Streams)
	}
	at := 2500 * time.Millisecond
	testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, mp4s["1"], 0, at-v.Start, 320, 240),
		testmedia.TestPatternRGB(t, at, 320, 240), 320, 240)

	// Turned halfway: two video tracks, the second with a 180-degree matrix
	// from 2 s.
	p = testmedia.ProbeMP4(t, mp4s["2"])
	var videos []testmedia.ProbeStream
	for _, s := range p.Streams {
		if s.Type == "video" {
			videos = append(videos, s)
		}
	}
	if len(videos) != 2 || (videos[0].HasRotation && videos[0].Rotation != 0) || !videos[1].HasRotation ||
		math.Abs(float64(videos[1].Rotation)) != 180 {
		t.Fatalf("turned camera: %+v, want two video tracks, the second rotated 180", p.Streams)
	}
	if math.Abs((videos[1].Start - videos[0].Start - 2*time.Second).Seconds()) > 0.15 {
		t.Errorf("the second orientation starts %v after the first, sent 2 s", videos[1].Start-videos[0].Start)
	}
	if n := videos[0].Frames + videos[1].Frames; n < turnVideo.Frames()-2 || n > turnVideo.Frames() {
		t.Errorf("%d + %d pictures, sent %d", videos[0].Frames, videos[1].Frames, turnVideo.Frames())
	}
	testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, mp4s["2"], 0, time.Second, 320, 240),
		testmedia.TestPatternRGB(t, time.Second+videos[0].Start, 320, 240), 320, 240)
	testmedia.CheckUprightCorner(t, testmedia.StreamRGBAt(t, mp4s["2"], 1, time.Second, 320, 240),
		testmedia.TestPatternRGB(t, 3*time.Second, 320, 240), 320, 240)
}

// stripCVO removes the CVO element WithCVO added to packets from index
// from on, so that another orientation can be put there.
func stripCVO(s testmedia.Stream, from int) testmedia.Stream {
	out := s.Clone()
	for i := from; i < len(out.Packets); i++ {
		p := out.Packets[i].Data
		if p[0]&0x10 == 0 {
			continue
		}
		hdr := 12 + 4*int(p[0]&0x0f)
		q := append(append([]byte{}, p[:hdr]...), p[hdr+8:]...)
		q[0] &^= 0x10
		out.Packets[i].Data = q
	}
	return out
}
