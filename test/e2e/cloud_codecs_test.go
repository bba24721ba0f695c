package e2e

import (
	"context"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// TestCloudRecordingIndividualVP8 records a plain-RTP participant that
// sends VP8 with the camera orientation (CVO) in individual mode with
// HLS and MP4: its sender holds the phone sideways (CVO "rotate 90
// degrees clockwise"), then turns it over (270) at the keyframe at 2 s.
// The video playlist decodes silently, lasts what was sent, and lists a
// second init segment after a discontinuity where the camera turned; the
// file list has one video MP4 per orientation, each a vp8 track with its
// display matrix, together every sent picture; the audio is one playlist
// and one MP4.
func TestCloudRecordingIndividualVP8(t *testing.T) {
	requireFFmpeg(t)
	const (
		cname  = "cloudvp8"
		bucket = "vp8bucket"
		uid    = 61
		cvoID  = 3
	)
	localDir := t.TempDir()
	// MP4 files of individual mode come from fMP4 segments.
	d := cloudDaemon(t, nil, "ARS_CLOUD_LOCAL_DIR="+localDir, "ARS_CLOUD_INDIVIDUAL_FORMAT=fmp4")
	c := newAgoraClient(t, d, appID)
	st, acq := c.acquire(cname, recorderUID)
	if st != http.StatusOK || acq.ResourceId == "" {
		t.Fatalf("acquire: %d %+v", st, acq)
	}
	st, started := c.start(acq.ResourceId, "individual", individualStart(d.key("media", cname, 527841), cname, nil, bucket, true))
	if st != http.StatusOK || started.Sid == "" {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid

	media := testmedia.Generate(t, testmedia.Options{Duration: 5 * time.Second, FPS: 25, GOP: 25, Codec: "VP8"})
	video, audio := media[0], media[1]
	keys := video.KeyframeIndexes()
	if len(keys) < 4 {
		t.Fatalf("keyframes at %v", keys)
	}
	turn := keys[2]
	video = testmedia.WithCVO(video, cvoID, turn, vcodec.Orientation{Rotation: 270}.Byte())
	video = testmedia.WithCVO(video, cvoID, 0, vcodec.Orientation{Rotation: 90}.Byte())

	var p participant
	code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": cname, "uid": uid, "key": d.key("media", cname, uid),
		"streams": []map[string]any{
			{"ssrc": 0x6161, "payloadType": testmedia.VideoPayloadType, "codec": "VP8", "clockRate": 90000,
				"extensions": []map[string]any{{"id": cvoID, "uri": vcodec.CVOURI}}},
			{"ssrc": 0x6162, "payloadType": testmedia.AudioPayloadType, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &p)
	if code != http.StatusCreated || p.RTPPort == 0 {
		t.Fatalf("join: %d %+v", code, p)
	}
	sender := newMediaSender(t, p.RTPPort, []testmedia.Stream{video, audio}, 0x6161, 0x6162)
	defer sender.close()
	if err := sender.send(context.Background(), 1, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both playlists in the file list", 15*time.Second, func() bool {
		st, q := c.query(rid, sid)
		return st == http.StatusOK && len(q.ServerResponse.FileList) >= 2
	})

	st, stopped := c.stop(rid, sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop: %d %+v", st, stopped)
	}
	var videoMP4s []testmedia.ProbeStream
	counts := map[string]int{}
	for _, f := range stopped.ServerResponse.FileList {
		if !f.IsPlayable || f.MixedAllUser || f.Uid != "61" ||
			!strings.HasPrefix(f.FileName, "rec/day1/"+sid+"_"+cname+"__uid_s_61__uid_e_"+f.TrackType) {
			t.Errorf("file list entry %+v", f)
		}
		local := filepath.Join(localDir, bucket, filepath.FromSlash(f.FileName))
		counts[f.TrackType+filepath.Ext(f.FileName)]++
		if strings.HasSuffix(f.FileName, ".m3u8") {
			decodeSilently(t, local)
			got := playlistSeconds(t, local)
			t.Logf("%s: %.3f s", filepath.Base(f.FileName), got)
			if math.Abs(got-5) > 0.6 {
				t.Errorf("%s lasts %.2f s, 5 s were sent", f.FileName, got)
			}
			text, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			discs, maps := strings.Count(string(text), "#EXT-X-DISCONTINUITY"), strings.Count(string(text), "#EXT-X-MAP")
			if f.TrackType == "video" && (discs != 1 || maps != 2) {
				t.Errorf("video playlist: %d discontinuities and %d init segments, want 1 and 2 (the camera turned once):\n%s",
					discs, maps, text)
			}
			continue
		}
		probe := testmedia.ProbeMP4(t, local)
		if f.TrackType == "video" {
			if s := probe.Stream("video"); s != nil && s.Codec == "vp8" {
				videoMP4s = append(videoMP4s, *s)
			} else {
				t.Errorf("%s: video %+v, want vp8", f.FileName, s)
			}
		}
	}
	if counts["video.m3u8"] != 1 || counts["audio.m3u8"] != 1 || counts["video.mp4"] != 2 || counts["audio.mp4"] != 1 {
		t.Errorf("file list %v: want a playlist per track, two video MP4s (one per orientation) and one audio MP4", counts)
	}
	frames := 0
	rotations := map[int]bool{}
	for _, s := range videoMP4s {
		frames += s.Frames
		if s.HasRotation {
			rotations[s.Rotation] = true
		}
	}
	// ffprobe gives the rotation counter-clockwise: "rotate 90 degrees
	// clockwise" is -90, 270 clockwise is 90.
	if !rotations[-90] || !rotations[90] {
		t.Errorf("video MP4 rotations %v, want -90 and 90", rotations)
	}
	if frames != video.Frames() {
		t.Errorf("video MP4s hold %d frames, %d were sent", frames, video.Frames())
	}
}
