package whip

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/transcode"
	"github.com/ars-project/ars/internal/vcodec"
)

// chromiumVideo are the video payload formats of a Chromium offer, in
// Chromium's order (VP8 first), each with its RTX.
var chromiumVideo = []struct{ pt, rtx, enc, fmtp string }{
	{"96", "97", "VP8/90000", ""},
	{"98", "99", "VP9/90000", "profile-id=0"},
	{"100", "101", "VP9/90000", "profile-id=2"},
	{"45", "46", "AV1/90000", "level-idx=5;profile=0;tier=0"},
	{"102", "103", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
	{"127", "125", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"},
	{"106", "107", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
	{"112", "113", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"},
}

// chromiumOffer is chromeOffer's audio with a video section offering the
// formats of chromiumVideo that keep says to keep, in that order, and
// the header extensions Chromium offers for video (CVO as ID 13).
func chromiumOffer(keep func(enc, fmtp string) bool) string {
	audio, _, _ := strings.Cut(chromeOffer, "m=video")
	var pts []string
	var lines []string
	for _, v := range chromiumVideo {
		if !keep(v.enc, v.fmtp) {
			continue
		}
		pts = append(pts, v.pt, v.rtx)
		lines = append(lines, "a=rtpmap:"+v.pt+" "+v.enc)
		for _, fb := range []string{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"} {
			lines = append(lines, "a=rtcp-fb:"+v.pt+" "+fb)
		}
		if v.fmtp != "" {
			lines = append(lines, "a=fmtp:"+v.pt+" "+v.fmtp)
		}
		lines = append(lines, "a=rtpmap:"+v.rtx+" rtx/90000", "a=fmtp:"+v.rtx+" apt="+v.pt)
	}
	video := []string{
		"m=video 9 UDP/TLS/RTP/SAVPF " + strings.Join(pts, " "),
		"c=IN IP4 0.0.0.0",
		"a=rtcp:9 IN IP4 0.0.0.0",
		"a=ice-ufrag:8hhY",
		"a=ice-pwd:asd88fgpdd777uzjYhagZg4R",
		"a=ice-options:trickle",
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		"a=setup:actpass",
		"a=mid:1",
		"a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
		"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
		"a=extmap:13 urn:3gpp:video-orientation",
		"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
		"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
		"a=sendonly",
		"a=msid:- d4e5f6",
		"a=rtcp-mux",
		"a=rtcp-rsize",
	}
	video = append(video, lines...)
	video = append(video, "a=ssrc-group:FID 2001 2002", "a=ssrc:2001 cname:x", "a=ssrc:2002 cname:x")
	return audio + strings.Join(video, "\r\n") + "\r\n"
}

// videoAnswer posts offer and returns the answer's video rtpmaps and
// fmtp lines, and its video section.
func videoAnswer(t *testing.T, f *fixture, uid string, offer string) (codecs []string, section string) {
	t.Helper()
	status, loc, answer := f.post("channel=room&uid="+uid, mediaKey(t, "room", parseUID(t, uid)), "application/sdp", offer)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	t.Cleanup(func() { f.do("DELETE", loc) })
	codecs = answerCodecs(t, answer)["video"]
	if i := strings.Index(answer, "m=video"); i >= 0 {
		section = answer[i:]
	}
	return codecs, section
}

// TestAnswerPrefersH264: Chromium offers VP8, VP9, AV1 and H.264, VP8
// first; the answer keeps H.264 alone (the recorded profiles in
// packetization mode 1), so the browser sends H.264. Camera orientation
// is answered with the offer's ID.
func TestAnswerPrefersH264(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	codecs, section := videoAnswer(t, f, "1", chromiumOffer(func(string, string) bool { return true }))
	if len(codecs) == 0 || codecs[0] != "H264/90000" {
		t.Fatalf("answer's video codecs %v, want H264 first:\n%s", codecs, section)
	}
	for _, c := range codecs {
		if c != "H264/90000" {
			t.Errorf("answer keeps %s besides H.264:\n%s", c, section)
		}
	}
	for _, banned := range []string{"packetization-mode=0", "profile-level-id=64001f", "rtx/"} {
		if strings.Contains(section, banned) {
			t.Errorf("answer has %s:\n%s", banned, section)
		}
	}
	if !strings.Contains(section, "a=fmtp:102 ") || !strings.Contains(section, "a=extmap:13 "+vcodec.CVOURI+"\r\n") {
		t.Errorf("answer lacks H.264 102 or CVO as extmap 13:\n%s", section)
	}
}

// TestAnswerWithoutH264: without H.264 the answer takes the next codec
// of vcodec.All that is offered, and only it.
func TestAnswerWithoutH264(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	cases := []struct {
		name  string
		keep  func(enc, fmtp string) bool
		want  string
		fmtps []string // the answer's fmtp values, in order
	}{
		{"vp8 vp9 av1", func(enc, _ string) bool { return !strings.HasPrefix(enc, "H264") }, "VP8/90000", nil},
		{"vp9 av1", func(enc, _ string) bool { return enc == "VP9/90000" || enc == "AV1/90000" }, "VP9/90000", []string{"98 profile-id=0", "100 profile-id=2"}},
		{"av1", func(enc, _ string) bool { return enc == "AV1/90000" }, "AV1/90000", []string{"45 level-idx=5;profile=0;tier=0"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			codecs, section := videoAnswer(t, f, strings.Repeat("1", i+2), chromiumOffer(tc.keep))
			if len(codecs) == 0 {
				t.Fatalf("no video answered:\n%s", section)
			}
			for _, c := range codecs {
				if c != tc.want {
					t.Fatalf("answer's video codecs %v, want only %s:\n%s", codecs, tc.want, section)
				}
			}
			var fmtps []string
			for _, line := range strings.Split(section, "\r\n") {
				if v, ok := strings.CutPrefix(line, "a=fmtp:"); ok {
					fmtps = append(fmtps, v)
				}
			}
			if tc.fmtps != nil && !slices.Equal(fmtps, tc.fmtps) {
				t.Fatalf("answer's fmtp %q, want %q:\n%s", fmtps, tc.fmtps, section)
			}
			if !strings.Contains(section, "a=extmap:13 "+vcodec.CVOURI+"\r\n") {
				t.Errorf("answer lacks CVO:\n%s", section)
			}
		})
	}
}

// TestPreferredVideoCodecs is the choice itself, on a transceiver's codec
// list: the most preferred recorded codec, all of its entries, VP9
// profile 0 before 2; nothing when nothing is recorded.
func TestPreferredVideoCodecs(t *testing.T) {
	c := func(mime, fmtp string, pt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp}, PayloadType: pt}
	}
	h264a := c("video/H264", "packetization-mode=1;profile-level-id=42e01f", 106)
	h264b := c("video/h264", "packetization-mode=1;profile-level-id=42001f", 102)
	h264High := c("video/H264", "packetization-mode=1;profile-level-id=640c1f", 112)
	h264Mode0 := c("video/H264", "packetization-mode=0;profile-level-id=42e01f", 127)
	vp8 := c("video/VP8", "", 96)
	vp9p0 := c("video/VP9", "profile-id=0", 98)
	vp9p2 := c("video/VP9", "profile-id=2", 100)
	vp9p1 := c("video/VP9", "profile-id=1", 101)
	vp9 := c("video/VP9", "", 99)
	av1 := c("video/AV1", "profile=0", 45)
	av1High := c("video/AV1", "profile=1", 47)
	h265 := c("video/H265", "", 49)
	cases := []struct {
		in, want []webrtc.RTPCodecParameters
	}{
		{[]webrtc.RTPCodecParameters{vp8, vp9p0, av1, h264a, h264High, h264b}, []webrtc.RTPCodecParameters{h264a, h264b}},
		{[]webrtc.RTPCodecParameters{av1, vp9p0, vp8, h264Mode0}, []webrtc.RTPCodecParameters{vp8}},
		{[]webrtc.RTPCodecParameters{vp9p2, vp9p1, av1, vp9p0, vp9}, []webrtc.RTPCodecParameters{vp9p0, vp9, vp9p2}},
		{[]webrtc.RTPCodecParameters{h265, av1High, av1}, []webrtc.RTPCodecParameters{av1}},
		{[]webrtc.RTPCodecParameters{h265, av1High, vp9p1, h264High}, nil},
	}
	for i, tc := range cases {
		got := preferredVideoCodecs(tc.in)
		var gotPT, wantPT []webrtc.PayloadType
		for _, x := range got {
			gotPT = append(gotPT, x.PayloadType)
		}
		for _, x := range tc.want {
			wantPT = append(wantPT, x.PayloadType)
		}
		if !slices.Equal(gotPT, wantPT) {
			t.Errorf("case %d: kept payload types %v, want %v", i, gotPT, wantPT)
		}
	}
}

// TestPublishVP8RecordsCVO: a client offering VP8 (no H.264) and camera
// orientation publishes real VP8 whose frames say "turned 90 degrees";
// the capture declares VP8 with the negotiated CVO ID, its packets keep
// the extension as sent (pion hands packets over untouched), the VP8
// track is asked for keyframes, and the MP4 is VP8 shown turned.
func TestPublishVP8RecordsCVO(t *testing.T) {
	checkGoroutines(t)
	testmedia.RequireFFmpeg(t)
	media := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, Video: true, Codec: storage.CodecVP8})
	f := newFixture(t, freePort(t))
	var readers sync.WaitGroup
	t.Cleanup(readers.Wait)
	client := newClient(t, vp8AndOpus)
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "ars")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := client.AddTrack(video)
	if err != nil {
		t.Fatal(err)
	}
	var plis atomic.Int32
	countPLI(vs, &plis, &readers)

	status, loc, answer := f.post("channel=vp8&uid=4", mediaKey(t, "vp8", 4), "application/sdp", offer(t, client))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	if codecs := answerCodecs(t, answer)["video"]; len(codecs) != 1 || codecs[0] != "VP8/90000" {
		t.Fatalf("answer's video %v:\n%s", codecs, answer)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var cvoID uint8
	for _, e := range vs.GetParameters().HeaderExtensions {
		if e.URI == vcodec.CVOURI {
			cvoID = uint8(e.ID)
		}
	}
	if cvoID == 0 {
		t.Fatalf("CVO not negotiated: %+v\n%s", vs.GetParameters().HeaderExtensions, answer)
	}
	waitState(t, client, 10*time.Second, webrtc.PeerConnectionStateConnected)
	if _, _, err := f.mgr.StartRecording("vp8", 4, "webrtc"); err != nil {
		t.Fatal(err)
	}
	turned := vcodec.Orientation{Rotation: 90}
	stream := testmedia.WithCVO(media[0], cvoID, 0, turned.Byte())
	start := time.Now()
	for _, p := range stream.Packets {
		time.Sleep(time.Until(start.Add(p.At)))
		if _, err := video.Write(p.Data); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	st := f.mgr.Status("vp8")
	if len(st.Users) != 1 || st.Users[0].File == "" {
		t.Fatalf("status while publishing: %+v", st)
	}
	capture := st.Users[0].File
	if !f.mgr.StopRecording("vp8", session.StopRequested) {
		t.Fatal("stop: not recording")
	}
	if plis.Load() < 1 {
		t.Errorf("VP8 track saw %d keyframe requests, want one at recording start", plis.Load())
	}

	r, err := storage.Open(capture)
	if err != nil {
		t.Fatal(err)
	}
	hdr := r.Header()
	var info storage.StreamInfo
	if len(hdr.Streams) == 1 {
		info = hdr.Streams[0]
	}
	if info.Kind != storage.KindVideo || info.Codec != storage.CodecVP8 || info.ClockRate != 90000 || info.ExtensionID(vcodec.CVOURI) != cvoID {
		t.Fatalf("capture declares %+v, want VP8 with CVO as extension %d", hdr.Streams, cvoID)
	}
	var packets, withCVO int
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		if rec.Kind != storage.RecordRTP {
			continue
		}
		packets++
		if o, ok := vcodec.PacketOrientation(rec.Data, cvoID); ok {
			if !o.SameView(turned) {
				t.Fatalf("recorded CVO %+v, sent %+v", o, turned)
			}
			withCVO++
		}
	}
	r.Close()
	if frames := stream.Frames(); packets < len(stream.Packets)*9/10 || withCVO < frames*9/10 {
		t.Fatalf("recorded %d of %d packets, %d with CVO of %d frames", packets, len(stream.Packets), withCVO, frames)
	}

	mp4 := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := transcode.ConvertFile(context.Background(), capture, mp4); err != nil {
		t.Fatal(err)
	}
	v := testmedia.ProbeMP4(t, mp4).Stream("video")
	if v == nil || v.Codec != "vp8" || v.Frames < media[0].Frames()*9/10 {
		t.Fatalf("mp4 video %+v, %d frames sent", v, media[0].Frames())
	}
	if !v.HasRotation || v.Rotation != -90 {
		t.Errorf("mp4 rotation %d (present %v), want -90 (shown turned 90 degrees clockwise)", v.Rotation, v.HasRotation)
	}
	if code := f.do("DELETE", loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
}
