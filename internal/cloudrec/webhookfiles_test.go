package cloudrec

import (
	"encoding/json"
	"testing"
)

// TestWebhookLists: events 1 and 4 send the lost files and the file list
// as the untyped events did, which marshalled lostFile and fileInfo.
func TestWebhookLists(t *testing.T) {
	same := func(name string, got, want any) {
		t.Helper()
		g, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		w, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != string(w) {
			t.Errorf("%s: %s, want %s", name, g, w)
		}
	}
	files := []fileInfo{{FileName: "p/a.m3u8", TrackType: "audio", UID: "7", IsPlayable: true, SliceStartTime: 12},
		{FileName: "p/m.mp4", TrackType: trackMixed, UID: "0", MixedAllUser: true, IsPlayable: true}}
	same("files", webhookFiles(files), files)
	same("no files", webhookFiles(nil), []fileInfo{})
	lost := []lostFile{{FileName: "a.m4s", TrackType: "video", UID: "3"}, {FileName: "b"}}
	same("lost", webhookLost(lost), lost)
}
