package e2e

import (
	"context"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCloudRecordingStreamModes records one participant with two
// recorders at once, as Agora's recordingConfig.streamMode chooses the
// files: "standard" (audio and video playlists plus the uid's
// …__uid_e_av.m3u8 naming both, which a player plays with sound and
// picture together) and "original" in an audio-only recording (the audio
// as sent, Opus in MPEG-TS, no transcoding).
func TestCloudRecordingStreamModes(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("modes")
	d := cloudDaemon(t, nil)
	c := newAgoraClient(t, d, appID)
	const cname = "moderoom"

	start := func(recUID, mode string, streamTypes int) (rid, sid string) {
		t.Helper()
		st, acq := c.acquire(cname, recUID)
		if st != http.StatusOK {
			t.Fatalf("acquire: %d %+v", st, acq)
		}
		var uid uint32
		for _, ch := range recUID {
			uid = uid*10 + uint32(ch-'0')
		}
		b := individualStart(d.key("media", cname, uid), cname, s3, "modes", false)
		b.Uid = recUID
		b.ClientRequest.RecordingConfig.StreamTypes = streamTypes
		b.ClientRequest.RecordingConfig.StreamMode = mode
		b.ClientRequest.StorageConfig.FileNamePrefix = []string{mode}
		st, started := c.start(acq.ResourceId, "individual", b)
		if st != http.StatusOK {
			t.Fatalf("start %s: %d %+v", mode, st, started)
		}
		return acq.ResourceId, started.Sid
	}
	stdRID, stdSID := start("527841", "standard", 2)
	origRID, origSID := start("527842", "original", 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 31, 0x3131, 0x3132)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 5)
	if err := send.Run(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}

	// standard: three playlists, the third naming the other two.
	st, stopped := c.stop(stdRID, stdSID, cname, "527841")
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop standard: %d %+v", st, stopped)
	}
	kinds := map[string]string{}
	for _, f := range stopped.ServerResponse.FileList {
		kinds[f.TrackType] = f.FileName
	}
	prefix := "standard/" + stdSID + "_" + cname + "__uid_s_31__uid_e_"
	if kinds["audio"] != prefix+"audio.m3u8" || kinds["video"] != prefix+"video.m3u8" || kinds["audio_and_video"] != prefix+"av.m3u8" ||
		len(stopped.ServerResponse.FileList) != 3 {
		t.Fatalf("standard file list %+v", stopped.ServerResponse.FileList)
	}
	dir := t.TempDir()
	av := s3.download("modes", prefix+"av.m3u8", dir)
	body, _ := os.ReadFile(av)
	t.Logf("%s:\n%s", filepath.Base(av), body)
	for _, want := range []string{"#EXTM3U", "# Audio", "# Video", "#EXT-X-MEDIA:TYPE=AUDIO", "#EXT-X-STREAM-INF:", "mp4a.40.2", "avc1."} {
		if !strings.Contains(string(body), want) {
			t.Errorf("av playlist has no %q", want)
		}
	}
	decodeSilently(t, av)
	ps := probePackets(t, av)
	got := map[string]int{}
	for _, s := range ps {
		got[s.codec] = s.packets
	}
	if len(got) != 2 || math.Abs(float64(got["h264"])/25-5) > 0.1 || math.Abs(float64(got["aac"])*1024/48000-5) > 0.1 {
		t.Errorf("av playlist streams %+v, want 5 s of h264 and of aac", ps)
	}

	// original, audio only: one playlist, Opus as sent, in MPEG-TS.
	st, stopped = c.stop(origRID, origSID, cname, "527842")
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop original: %d %+v", st, stopped)
	}
	fl := stopped.ServerResponse.FileList
	oprefix := "original/" + origSID + "_" + cname + "__uid_s_31__uid_e_"
	if len(fl) != 1 || fl[0].FileName != oprefix+"audio.m3u8" || fl[0].TrackType != "audio" {
		t.Fatalf("original file list %+v", fl)
	}
	local := s3.download("modes", fl[0].FileName, t.TempDir())
	decodeSilently(t, local)
	ps = probePackets(t, local)
	// 20 ms Opus packets.
	if len(ps) != 1 || ps[0].codec != "opus" || math.Abs(float64(ps[0].packets)*0.02-5) > 0.1 {
		t.Errorf("original audio %+v, want 5 s of opus", ps)
	}
	for _, k := range s3.keys("modes") {
		if strings.HasPrefix(k, "original/") && !strings.HasSuffix(k, ".m3u8") && !strings.HasSuffix(k, ".ts") {
			t.Errorf("original mode wrote %s", k)
		}
		if strings.HasPrefix(k, "original/") && strings.Contains(k, "__uid_e_video") {
			t.Errorf("an audio-only recording wrote %s", k)
		}
	}
}
