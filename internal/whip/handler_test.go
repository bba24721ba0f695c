package whip

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/transcode"
)

// waitState waits until pc reaches one of the states.
func waitState(t *testing.T, pc *webrtc.PeerConnection, timeout time.Duration, states ...webrtc.PeerConnectionState) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s := pc.ConnectionState()
		for _, want := range states {
			if s == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("peer connection state %s, want one of %v", pc.ConnectionState(), states)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// countPLI reads a sender's RTCP until the connection closes, counting
// keyframe requests.
func countPLI(s *webrtc.RTPSender, n *atomic.Int32, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					n.Add(1)
				}
			}
		}
	}()
}

// answerCodecs lists the rtpmap encodings of each media kind in an SDP.
func answerCodecs(t *testing.T, s string) map[string][]string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal([]byte(s)); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, s)
	}
	out := map[string][]string{}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			out[md.MediaName.Media] = append(out[md.MediaName.Media], "rejected")
			continue
		}
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" {
				_, enc, _ := strings.Cut(a.Value, " ")
				out[md.MediaName.Media] = append(out[md.MediaName.Media], enc)
			}
		}
	}
	return out
}

// TestPublishRecordsTracks is the whole ingest: a pion client offering
// every codec it knows publishes real H.264 and Opus (encoded by ffmpeg
// for this test) over WHIP; the answer keeps only H.264 and Opus; the
// capture holds every packet and the sender reports; keyframes are asked
// for when recording starts and on the interval; the capture converts to
// an MP4 ffmpeg decodes; DELETE ends the session.
func TestPublishRecordsTracks(t *testing.T) {
	checkGoroutines(t)
	testmedia.RequireFFmpeg(t)
	media := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second})
	f := newFixture(t, freePort(t), WithKeyframeInterval(time.Second))
	var readers sync.WaitGroup
	t.Cleanup(readers.Wait) // after the client closes: cleanups run last-in first-out
	client := newClient(t, browserLike)
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "ars")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "ars")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := client.AddTrack(video)
	if err != nil {
		t.Fatal(err)
	}
	as, err := client.AddTrack(audio)
	if err != nil {
		t.Fatal(err)
	}
	var plis, audioPLIs atomic.Int32
	countPLI(vs, &plis, &readers)
	countPLI(as, &audioPLIs, &readers)

	status, loc, answer := f.post("channel=room%201&uid=7", mediaKey(t, "room 1", 7), "application/sdp", offer(t, client))
	if status != http.StatusCreated || !strings.HasPrefix(loc, ResourcePrefix) {
		t.Fatalf("POST: %d %q %s", status, loc, answer)
	}
	codecs := answerCodecs(t, answer)
	for kind, want := range map[string]string{"video": "H264/90000", "audio": "opus/48000/2"} {
		if len(codecs[kind]) == 0 {
			t.Fatalf("answer has no %s: %v", kind, codecs)
		}
		for _, c := range codecs[kind] {
			if !strings.EqualFold(c, want) {
				t.Fatalf("answer offers %s %s, want only %s:\n%s", kind, c, want, answer)
			}
		}
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitState(t, client, 10*time.Second, webrtc.PeerConnectionStateConnected)
	if _, _, err := f.mgr.StartRecording("room 1", 7, "webrtc"); err != nil {
		t.Fatal(err)
	}

	// Send the encoded media in real time, as a browser would.
	vSSRC := media[0].Info.SSRC
	sent := map[string]int{}
	start := time.Now()
	for _, p := range testmedia.Merge(media...) {
		time.Sleep(time.Until(start.Add(p.At)))
		track, kind := audio, "audio"
		if uint32(p.Data[8])<<24|uint32(p.Data[9])<<16|uint32(p.Data[10])<<8|uint32(p.Data[11]) == vSSRC {
			track, kind = video, "video"
		}
		if _, err := track.Write(p.Data); err != nil {
			t.Fatal(err)
		}
		sent[kind]++
	}
	time.Sleep(500 * time.Millisecond)

	st := f.mgr.Status("room 1")
	if len(st.Users) != 1 || st.Users[0].Source != "webrtc" || st.Users[0].File == "" {
		t.Fatalf("status while publishing: %+v", st)
	}
	p := f.mgr.Participant(strings.TrimPrefix(loc, ResourcePrefix))
	if p == nil {
		t.Fatal("participant not found by its WHIP resource id")
	}
	declared := p.Streams()
	if len(declared) != 2 {
		t.Fatalf("participant streams %+v", declared)
	}
	capture := st.Users[0].File
	if !f.mgr.StopRecording("room 1", session.StopRequested) {
		t.Fatal("stop: not recording")
	}
	if plis.Load() < 2 {
		t.Errorf("client saw %d keyframe requests for video, want one at recording start and more on the interval", plis.Load())
	}
	if audioPLIs.Load() != 0 {
		t.Errorf("keyframe requests sent for audio: %d", audioPLIs.Load())
	}

	r, err := storage.Open(capture)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := storage.Summarize(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The first track is in the header, the other declared by a stream
	// record when it arrived.
	if sum.Header.Source != "webrtc" || sum.Header.Channel != "room 1" || sum.Header.UID != 7 || len(sum.Header.Streams) == 0 {
		t.Fatalf("capture header %+v", sum.Header)
	}
	for _, s := range declared {
		got := sum.Stream(s.SSRC)
		want := sent[s.Kind]
		if got == nil || got.Packets < uint64(want*98/100) {
			t.Errorf("%s stream %+v: recorded %v of %d packets sent", s.Kind, s, got, want)
		}
		switch s.Kind {
		case storage.KindVideo:
			if s.Codec != storage.CodecH264 || s.ClockRate != 90000 || !strings.Contains(s.Fmtp, "packetization-mode=1") {
				t.Errorf("video declared as %+v", s)
			}
		case storage.KindAudio:
			if s.Codec != storage.CodecOpus || s.ClockRate != 48000 || s.Channels != 2 {
				t.Errorf("audio declared as %+v", s)
			}
		}
	}
	if sum.RTCPPackets < 2 {
		t.Errorf("capture holds %d RTCP records, want the sender reports of both tracks", sum.RTCPPackets)
	}

	mp4 := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := transcode.ConvertFile(context.Background(), capture, mp4); err != nil {
		t.Fatal(err)
	}
	probe := testmedia.ProbeMP4(t, mp4)
	v, a := probe.Stream("video"), probe.Stream("audio")
	if v == nil || v.Codec != "h264" || a == nil || a.Codec != "opus" {
		t.Fatalf("mp4 streams %+v", probe.Streams)
	}
	if wantFrames := media[0].Frames(); v.Frames < wantFrames*9/10 {
		t.Errorf("mp4 has %d video frames of %d sent", v.Frames, wantFrames)
	}

	if code := f.do("DELETE", loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	waitFor(t, "session to end", 10*time.Second, func() bool { return f.ing.Sessions() == 0 && len(f.mgr.Status("room 1").Users) == 0 })
	if code := f.do("DELETE", loc); code != http.StatusNotFound {
		t.Fatalf("second DELETE: %d", code)
	}
}

type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestOfferRefused(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	good := offer(t, withTracks(t, newClient(t, browserLike), true, true))
	h265 := offer(t, withTracks(t, newClient(t, h265Only), true, false))
	recKey := recordingKey(t, "room", 1)
	cases := []struct {
		name, query, key, ctype, body string
		status                        int
		code                          string
	}{
		{"missing key", "channel=room&uid=1", "", "application/sdp", good, 401, "missing_key"},
		{"bad key", "channel=room&uid=1", "not-a-key", "application/sdp", good, 401, "invalid_key"},
		{"key of another uid", "channel=room&uid=2", mediaKey(t, "room", 1), "application/sdp", good, 401, "invalid_key"},
		{"recording key", "channel=room&uid=1", recKey, "application/sdp", good, 403, "wrong_service"},
		{"bad channel", "channel=..&uid=1", mediaKey(t, "..", 1), "application/sdp", good, 400, "invalid_channel"},
		{"no channel", "uid=1", mediaKey(t, "room", 1), "application/sdp", good, 400, "invalid_channel"},
		{"uid zero", "channel=room&uid=0", mediaKey(t, "room", 1), "application/sdp", good, 400, "invalid_uid"},
		{"uid too large", "channel=room&uid=4294967296", mediaKey(t, "room", 1), "application/sdp", good, 400, "invalid_uid"},
		{"json body", "channel=room&uid=1", mediaKey(t, "room", 1), "application/json", good, 415, "unsupported_media_type"},
		{"garbage sdp", "channel=room&uid=1", mediaKey(t, "room", 1), "application/sdp", "hello world", 400, "bad_offer"},
		{"sdp without ice", "channel=room&uid=1", mediaKey(t, "room", 1), "application/sdp", stripICE(good), 400, "bad_offer"},
		{"unrecorded video only", "channel=room&uid=1", mediaKey(t, "room", 1), "application/sdp", h265, 400, "unsupported_codecs"},
		{"oversized", "channel=room&uid=1", mediaKey(t, "room", 1), "application/sdp", strings.Repeat("a", maxOfferBytes+1), 413, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, loc, body := f.post(tc.query, tc.key, tc.ctype, tc.body)
			var e errorAnswer
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("non-JSON error %d %q", status, body)
			}
			if status != tc.status || e.Error.Code != tc.code || e.Error.Message == "" || loc != "" {
				t.Fatalf("got %d %+v, want %d %q", status, e, tc.status, tc.code)
			}
		})
	}
	if n := f.ing.Sessions(); n != 0 {
		t.Fatalf("%d sessions after refusals", n)
	}
	if st := f.mgr.Status("room"); len(st.Users) != 0 {
		t.Fatalf("refused offers joined: %+v", st)
	}
}

// stripICE removes the ICE credentials, which pion requires.
func stripICE(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\r\n") {
		if !strings.HasPrefix(line, "a=ice-ufrag") && !strings.HasPrefix(line, "a=ice-pwd") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\r\n")
}

// withTracks adds a sending video (of the client's first video codec)
// and/or Opus track.
func withTracks(t *testing.T, pc *webrtc.PeerConnection, video, audio bool) *webrtc.PeerConnection {
	t.Helper()
	if video {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	if audio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	return pc
}

// TestUnrecordedVideoIsRejectedAudioKept decides the mixed case: an
// offer with video in a codec ars does not record (H.265) and Opus audio
// is answered with the audio only, the video section rejected (port 0).
func TestUnrecordedVideoIsRejectedAudioKept(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	client := withTracks(t, newClient(t, h265AndOpus), true, true)
	status, loc, answer := f.post("channel=room&uid=3", mediaKey(t, "room", 3), "application/sdp", offer(t, client))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	codecs := answerCodecs(t, answer)
	if len(codecs["video"]) != 1 || codecs["video"][0] != "rejected" {
		t.Fatalf("video in answer: %v\n%s", codecs["video"], answer)
	}
	if len(codecs["audio"]) == 0 || !strings.EqualFold(codecs["audio"][0], "opus/48000/2") {
		t.Fatalf("audio in answer: %v", codecs["audio"])
	}
	if code := f.do("DELETE", loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
}

// TestSessionLifetimes: a rejoin of the same uid ends the older
// PeerConnection, and a client that closes its PeerConnection leaves.
func TestSessionLifetimes(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	connect := func() (*webrtc.PeerConnection, string) {
		c := withTracks(t, newClient(t, browserLike), false, true)
		status, loc, answer := f.post("channel=room&uid=5", mediaKey(t, "room", 5), "application/sdp", offer(t, c))
		if status != http.StatusCreated {
			t.Fatalf("POST: %d %s", status, answer)
		}
		if err := c.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatal(err)
		}
		waitState(t, c, 10*time.Second, webrtc.PeerConnectionStateConnected)
		return c, loc
	}
	first, firstLoc := connect()
	second, secondLoc := connect()
	if firstLoc == secondLoc {
		t.Fatal("rejoin got the same resource")
	}
	waitState(t, first, 15*time.Second, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected)
	waitFor(t, "replaced session to end", 10*time.Second, func() bool { return f.ing.Sessions() == 1 })
	if code := f.do("DELETE", firstLoc); code != http.StatusNotFound {
		t.Fatalf("DELETE of the replaced session: %d", code)
	}
	if err := second.GracefulClose(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "closed client to leave", 15*time.Second, func() bool {
		return f.ing.Sessions() == 0 && len(f.mgr.Status("room").Users) == 0
	})
}

func TestDisabledAndUnsupportedMethods(t *testing.T) {
	checkGoroutines(t)
	off := newFixture(t, 0)
	status, _, body := off.post("channel=room&uid=1", mediaKey(t, "room", 1), "application/sdp", "v=0")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"webrtc_disabled"`) {
		t.Fatalf("disabled: %d %s", status, body)
	}
	if code := off.do("PATCH", ResourcePrefix+"abc"); code != http.StatusMethodNotAllowed {
		t.Fatalf("PATCH: %d", code)
	}
	if code := off.do("DELETE", ResourcePrefix+"0123456789abcdef"); code != http.StatusNotFound {
		t.Fatalf("DELETE unknown: %d", code)
	}
	if code := off.do("OPTIONS", "/v1/whip"); code != http.StatusNoContent {
		t.Fatalf("OPTIONS: %d", code)
	}
}

// TestChromeOfferAnswer answers a browser's offer with only the H.264
// profiles and Opus that are recorded: no VP8 (offered first, but H.264
// is preferred), no High profile, no RTX, no RED.
func TestChromeOfferAnswer(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, freePort(t))
	status, loc, answer := f.post("channel=room&uid=9", mediaKey(t, "room", 9), "application/sdp", chromeOffer)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	defer f.do("DELETE", loc)
	for _, banned := range []string{"VP8", "rtx/", "red/", "G722", "PCMU", "profile-level-id=640c1f"} {
		if strings.Contains(answer, banned) {
			t.Errorf("answer contains %s:\n%s", banned, answer)
		}
	}
	codecs := answerCodecs(t, answer)
	if len(codecs["video"]) == 0 || len(codecs["audio"]) == 0 || codecs["video"][0] != "H264/90000" || codecs["audio"][0] != "opus/48000/2" {
		t.Fatalf("answer codecs %v", codecs)
	}
	if !strings.Contains(answer, "127.0.0.1") {
		t.Fatalf("answer has no loopback candidate:\n%s", answer)
	}
}
