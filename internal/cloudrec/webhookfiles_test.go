package cloudrec

import (
	"encoding/json"
	"testing"
)

// TestWebhookLists: the file list (query, stop, event 4) and the lost
// files (event 1) go out in Agora's spelling, and event 4 sends [] for no
// files.
func TestWebhookLists(t *testing.T) {
	same := func(name string, got any, want string) {
		t.Helper()
		g, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != want {
			t.Errorf("%s: %s, want %s", name, g, want)
		}
	}
	files := []fileInfo{{FileName: "p/a.m3u8", TrackType: "audio", UID: "7", IsPlayable: true, SliceStartTime: 12},
		{FileName: "p/m.mp4", TrackType: trackMixed, UID: "0", MixedAllUser: true, IsPlayable: true}}
	same("files", webhookFiles(files), `[{"fileName":"p/a.m3u8","trackType":"audio","uid":"7","mixedAllUser":false,"isPlayable":true,"sliceStartTime":12},`+
		`{"fileName":"p/m.mp4","trackType":"audio_and_video","uid":"0","mixedAllUser":true,"isPlayable":true,"sliceStartTime":0}]`)
	same("no files", webhookFiles(nil), `[]`)
	lost := []lostFile{{FileName: "a.m4s", TrackType: "video", UID: "3"}, {FileName: "b"}}
	same("lost", lost, `[{"fileName":"a.m4s","trackType":"video","uid":"3"},{"fileName":"b"}]`)
}
