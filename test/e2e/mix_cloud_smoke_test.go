package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// TestCloudMixSmoke is the shortest whole mix-mode recording: two RTP
// senders (red + 440 Hz, blue + 1000 Hz) through the Cloud Recording API
// in mode mix (best fit, 640x360) to local storage; the playlist the
// query names decodes with red on the left, blue on the right and both
// tones.
func TestCloudMixSmoke(t *testing.T) {
	requireFFmpeg(t)
	local := t.TempDir()
	d := cloudDaemon(t, nil, "ARS_CLOUD_LOCAL_DIR="+local)
	c := newAgoraClient(t, d, appID)
	const cname = "mixsmoke"
	st, acq := c.acquire(cname, recorderUID)
	if st != http.StatusOK {
		t.Fatalf("acquire: %d %+v", st, acq)
	}
	body := individualStart(d.key("media", cname, 527841), cname, nil, "mixes", false)
	body.ClientRequest.StorageConfig.FileNamePrefix = nil
	raw, _ := json.Marshal(body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["clientRequest"].(map[string]any)["recordingConfig"].(map[string]any)["transcodingConfig"] = map[string]any{
		"width": 640, "height": 360, "fps": 15, "bitrate": 500, "mixedVideoLayout": 1, "backgroundColor": "#00FF00"}
	var started cloudAnswer
	if st := c.do("POST", "/resourceid/"+acq.ResourceId+"/mode/mix/start", m, &started); st != http.StatusOK {
		t.Fatalf("start: %d %+v", st, started)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := d.joinRTP(cname, 11, 0x1101, 0x1102)
	b := d.joinRTP(cname, 12, 0x1201, 0x1202)
	sa := sendColour(ctx, a.RTPPort, a.VideoSSRC, a.AudioSSRC, 7, "red", 440)
	if err := sa.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	sb := sendColour(ctx, b.RTPPort, b.VideoSSRC, b.AudioSSRC, 7, "blue", 1000)
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	_ = sa.Wait()
	_ = sb.Wait()
	var q struct {
		ServerResponse struct {
			Status       int    `json:"status"`
			FileListMode string `json:"fileListMode"`
			FileList     string `json:"fileList"`
		} `json:"serverResponse"`
	}
	path := "/resourceid/" + acq.ResourceId + "/sid/" + started.Sid + "/mode/mix"
	if st := c.do("GET", path+"/query", nil, &q); st != http.StatusOK || q.ServerResponse.FileListMode != "string" ||
		q.ServerResponse.FileList != started.Sid+"_"+cname+".m3u8" {
		t.Fatalf("query: %d %+v", st, q)
	}
	var stop struct {
		ServerResponse struct {
			FileListMode    string `json:"fileListMode"`
			FileList        string `json:"fileList"`
			UploadingStatus string `json:"uploadingStatus"`
		} `json:"serverResponse"`
	}
	if st := c.do("POST", path+"/stop", &stopReqBody{Cname: cname, Uid: recorderUID, ClientRequest: &stopClientRequest{}}, &stop); st != http.StatusOK ||
		stop.ServerResponse.FileList != q.ServerResponse.FileList || stop.ServerResponse.UploadingStatus != "uploaded" {
		t.Fatalf("stop: %d %+v", st, stop)
	}
	pl := filepath.Join(local, "mixes", stop.ServerResponse.FileList)
	b2, err := os.ReadFile(pl)
	if err != nil || !strings.Contains(string(b2), "#EXT-X-ENDLIST") {
		ents, _ := os.ReadDir(filepath.Join(local, "mixes"))
		t.Fatalf("playlist %s: %v %q %v", pl, err, b2, ents)
	}
	decodeSilently(t, pl)
	secs := playlistSeconds(t, pl)
	t.Logf("playlist %.2f s:\n%s", secs, b2)
	px := testmedia.RGBFrameAt(t, pl, 4*time.Second, 640, 360)
	at := func(x, y int) []byte { i := (y*640 + x) * 3; return px[i : i+3] }
	if !nearColour(at(160, 180), [3]int{255, 0, 0}) || !nearColour(at(480, 180), [3]int{0, 0, 255}) {
		t.Errorf("at 4 s: left %v right %v, want red | blue", at(160, 180), at(480, 180))
	}
	pcm := testmedia.DecodeMono(t, "-i", pl)
	e440, e1000, e2500 := testmedia.ToneEnergy(pcm, 440, 2*time.Second, 5*time.Second), testmedia.ToneEnergy(pcm, 1000, 2*time.Second, 5*time.Second), testmedia.ToneEnergy(pcm, 2500, 2*time.Second, 5*time.Second)
	t.Logf("tones 440 %.3g 1000 %.3g empty %.3g", e440, e1000, e2500)
	if e440 < 100*e2500 || e1000 < 100*e2500 {
		t.Errorf("tones missing: 440 %.3g 1000 %.3g empty %.3g", e440, e1000, e2500)
	}
}
