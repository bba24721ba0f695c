package cloudrec

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// TestCloudRecordsCodecs: individual mode records a VP8, VP9 or AV1
// participant as it does H.264, and honours the camera orientation the
// sender declared: a phone held sideways (its picture sent turned, CVO
// saying "rotate 90 degrees clockwise") gives a video playlist and MP4
// that decode silently, hold every sent picture and carry the display
// matrix; the audio beside it is unchanged.
func TestCloudRecordsCodecs(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	const cvoID = 5
	for _, codec := range []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1} {
		t.Run(codec.Name(), func(t *testing.T) {
			media := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second, GOP: 25, Codec: codec.Name(), Transpose: 2})
			v := media[0]
			v.Info.Extensions = []storage.HeaderExtension{{ID: cvoID, URI: vcodec.CVOURI}}
			media[0] = testmedia.WithCVO(v, cvoID, 0, vcodec.Orientation{Rotation: 90}.Byte())
			root := t.TempDir()
			store := filepath.Join(root, "store")
			r := newRigMedia(t, filepath.Join(root, "work"), filepath.Join(root, "backup"),
				objstore.Destination{Kind: "local", Dir: store}, media, recorderSettings{mp4: true, fmp4: true})
			r.feedUntil(time.Hour)
			resp, ok := r.rec.stop(false)
			if !ok || resp.ServerResponse.UploadingStatus != uploadUploaded {
				t.Fatalf("stop: %v %+v", ok, resp)
			}
			kinds := map[string]int{}
			for _, f := range resp.ServerResponse.FileList.entries {
				path := filepath.Join(store, f.FileName)
				ext := filepath.Ext(f.FileName)
				kinds[f.TrackType+ext]++
				p := testmedia.ProbeMP4(t, path)
				s := p.Stream(f.TrackType)
				if s == nil {
					t.Fatalf("%s: no %s stream", f.FileName, f.TrackType)
				}
				if f.TrackType == storage.KindAudio {
					if s.Codec != "opus" || s.Frames < media[1].Frames()-5 {
						t.Errorf("%s: %+v, sent %d packets", f.FileName, s, media[1].Frames())
					}
					continue
				}
				if s.Codec != strings.ToLower(codec.Name()) || s.Frames != v.Frames() || s.Width != 240 || s.Height != 320 {
					t.Errorf("%s: %+v, want %s 240x320 with %d frames", f.FileName, s, codec, v.Frames())
				}
				// ffprobe reads the display matrix from the init segment
				// of the MP4; the HLS demuxer does not pass it on.
				if ext == ".mp4" && (!s.HasRotation || s.Rotation != -90) {
					t.Errorf("%s: rotation %d (present %v), want -90", f.FileName, s.Rotation, s.HasRotation)
				}
			}
			if kinds["video.m3u8"] != 1 || kinds["video.mp4"] != 1 || kinds["audio.m3u8"] != 1 || kinds["audio.mp4"] != 1 {
				t.Errorf("file list %v, want a playlist and an MP4 per track", kinds)
			}
		})
	}
}
