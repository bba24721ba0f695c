package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// snapshotConfig is the Go client's SnapshotConfig.
type snapshotConfig struct {
	CaptureInterval int      `json:"captureInterval,omitempty"`
	FileType        []string `json:"fileType"`
}

// snapStartReq is a start body with snapshotConfig next to the client's
// other fields.
type snapStartReq struct {
	Cname         string             `json:"cname"`
	Uid           string             `json:"uid"`
	ClientRequest *snapClientRequest `json:"clientRequest"`
}

type snapClientRequest struct {
	*startClientRequest
	SnapshotConfig *snapshotConfig `json:"snapshotConfig,omitempty"`
}

// sendTone runs ffmpeg sending only a tone as Opus RTP to port.
func sendTone(ctx context.Context, port int, audioSSRC uint32, seconds float64) *exec.Cmd {
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-re", "-t", strconv.FormatFloat(seconds, 'f', 2, 64), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(audioSSRC), 10), "-payload_type", "111", url)
	cmd.Stdout = io.Discard
	return cmd
}

// joinAudioOnly joins uid with one Opus stream.
func (d *daemon) joinAudioOnly(channel string, uid, audioSSRC uint32) participant {
	d.t.Helper()
	var p participant
	code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": uid, "key": d.key("media", channel, uid),
		"streams": []map[string]any{
			{"ssrc": audioSSRC, "payloadType": 111, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &p)
	if code != http.StatusCreated || p.ID == "" || p.RTPPort == 0 {
		d.t.Fatalf("join uid %d: status %d %+v", uid, code, p)
	}
	p.AudioSSRC = audioSSRC
	return p
}

var snapNameRE = regexp.MustCompile(`^shots/([0-9a-f]+)_snaproom__uid_s_([0-9]+)__uid_e_video_([0-9]{17})\.jpg$`)

// TestCloudRecordingSnapshots runs two sessions on one channel at once,
// to a real S3 server: one takes snapshots only (no recordingFileConfig),
// one records and takes snapshots. Two participants send solid red and
// blue H.264 for 12 s, a third sends only sound. Each session must store
// ceil(12/5) ± 1 JPEGs per video uid, each decoding to its sender's
// colour and named after its arrival, with one event 45 per file, none
// for the audio-only uid; the snapshot-only session's query and stop
// answers have no fileList, the other's list its playlists.
func TestCloudRecordingSnapshots(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("snaps")
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks)
	c := newAgoraClient(t, d, appID)
	const cname = "snaproom"
	const seconds, interval = 12.0, 5

	type session struct {
		name, uid, rid, sid string
		record              bool
	}
	sessions := []*session{{name: "snapshots only", uid: "600001"}, {name: "recording and snapshots", uid: "600002", record: true}}
	for _, s := range sessions {
		st, acq := c.acquire(cname, s.uid)
		if st != http.StatusOK {
			t.Fatalf("acquire: %d %+v", st, acq)
		}
		u, _ := strconv.ParseUint(s.uid, 10, 32)
		cr := &startClientRequest{Token: d.key("media", cname, uint32(u)),
			RecordingConfig: &recordingConfig{ChannelType: 0, StreamTypes: 2, MaxIdleTime: 30},
			StorageConfig: &storageConfig{Vendor: 11, Bucket: "snaps", AccessKey: s3Access, SecretKey: s3Secret,
				FileNamePrefix: []string{"shots"}, ExtensionParams: &extensionParams{Endpoint: s3.endpoint()}}}
		if s.record {
			cr.RecordingFileConfig = &recordingFileConfig{AvFileType: []string{"hls"}}
		}
		body := &snapStartReq{Cname: cname, Uid: s.uid, ClientRequest: &snapClientRequest{startClientRequest: cr,
			SnapshotConfig: &snapshotConfig{CaptureInterval: interval, FileType: []string{"jpg"}}}}
		var a cloudAnswer
		if st := c.do("POST", "/resourceid/"+acq.ResourceId+"/mode/individual/start", body, &a); st != http.StatusOK || a.Sid == "" {
			t.Fatalf("%s: start: %d %+v", s.name, st, a)
		}
		s.rid, s.sid = acq.ResourceId, a.Sid
	}
	// A snapshot-only session answers no fileList, before media as after.
	rawQuery := func(s *session) map[string]json.RawMessage {
		var a struct {
			ServerResponse map[string]json.RawMessage `json:"serverResponse"`
		}
		if st := c.do("GET", "/resourceid/"+s.rid+"/sid/"+s.sid+"/mode/individual/query", nil, &a); st != http.StatusOK {
			t.Fatalf("%s: query: %d", s.name, st)
		}
		return a.ServerResponse
	}
	if q := rawQuery(sessions[0]); q["fileList"] != nil || q["fileListMode"] != nil || string(q["status"]) != "5" {
		t.Errorf("snapshot-only query before media: %v", q)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	colours := map[string][3]int{"31": {255, 0, 0}, "32": {0, 0, 255}}
	red := d.joinRTP(cname, 31, 0x3101, 0x3102)
	blue := d.joinRTP(cname, 32, 0x3201, 0x3202)
	mute := d.joinAudioOnly(cname, 33, 0x3302)
	senders := []*exec.Cmd{
		sendColour(ctx, red.RTPPort, red.VideoSSRC, red.AudioSSRC, seconds, "red", 440),
		sendColour(ctx, blue.RTPPort, blue.VideoSSRC, blue.AudioSSRC, seconds, "blue", 660),
		sendTone(ctx, mute.RTPPort, mute.AudioSSRC, seconds),
	}
	began := time.Now()
	for _, s := range senders {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range senders {
		if err := s.Wait(); err != nil {
			t.Fatalf("ffmpeg sender: %v", err)
		}
	}
	t.Logf("media sent for %.1f s", time.Since(began).Seconds())
	if q := rawQuery(sessions[0]); q["fileList"] != nil || q["fileListMode"] != nil {
		t.Errorf("snapshot-only query after media: %v", q)
	}

	want := int(math.Ceil(seconds / interval))
	keys := map[string]bool{}
	for _, k := range s3.keys("snaps") {
		keys[k] = true
	}
	for _, s := range sessions {
		var raw struct {
			Code           int                        `json:"code"`
			ServerResponse map[string]json.RawMessage `json:"serverResponse"`
		}
		st := c.do("POST", "/resourceid/"+s.rid+"/sid/"+s.sid+"/mode/individual/stop",
			&stopReqBody{Cname: cname, Uid: s.uid, ClientRequest: &stopClientRequest{}}, &raw)
		if st != http.StatusOK || string(raw.ServerResponse["uploadingStatus"]) != `"uploaded"` {
			t.Fatalf("%s: stop: %d %v", s.name, st, raw)
		}
		var files []cloudFile
		if s.record {
			if err := json.Unmarshal(raw.ServerResponse["fileList"], &files); err != nil || len(files) != 5 {
				t.Errorf("%s: stop fileList %s: want the playlists of 3 audio and 2 video streams", s.name, raw.ServerResponse["fileList"])
			}
			for _, f := range files {
				if strings.HasSuffix(f.FileName, ".jpg") {
					t.Errorf("%s: a snapshot in the file list: %s", s.name, f.FileName)
				}
			}
		} else if raw.ServerResponse["fileList"] != nil || raw.ServerResponse["fileListMode"] != nil {
			t.Errorf("%s: stop answers a file list: %v", s.name, raw.ServerResponse)
		}
		for _, k := range s3.keys("snaps") {
			keys[k] = true
		}
		// The JPEGs of this session in the bucket, by uid.
		perUID := map[string][]string{}
		for k := range keys {
			m := snapNameRE.FindStringSubmatch(k)
			if m == nil || m[1] != s.sid {
				continue
			}
			perUID[m[2]] = append(perUID[m[2]], k)
			at, err := time.Parse("20060102150405.000", m[3][:14]+"."+m[3][14:])
			if err != nil || at.Before(began.Add(-time.Second)) || at.After(began.Add(time.Duration(seconds*float64(time.Second))+2*time.Second)) {
				t.Errorf("%s: %s: UTC %v outside the media (%v + %.0f s)", s.name, k, at, began.UTC(), seconds)
			}
			local := filepath.Join(t.TempDir(), filepath.Base(k))
			if err := s3.client().FGetObject(ctx, "snaps", k, local, minioGet()); err != nil {
				t.Fatal(err)
			}
			decodeSilently(t, local)
			if rgb := centre(t, local); !nearRGB(rgb, colours[m[2]], 40) {
				t.Errorf("%s: %s: centre %v, want %v", s.name, k, rgb, colours[m[2]])
			}
		}
		for uid := range colours {
			if n := len(perUID[uid]); n < want-1 || n > want+1 {
				t.Errorf("%s: uid %s: %d snapshots, want %d ± 1: %v", s.name, uid, n, want, perUID[uid])
			}
			t.Logf("%s: uid %s: %d snapshots", s.name, uid, len(perUID[uid]))
		}
		if len(perUID["33"]) != 0 {
			t.Errorf("%s: snapshots of the audio-only uid: %v", s.name, perUID["33"])
		}
		// One event 45 per file, naming it.
		named := map[string]int{}
		for _, n := range hooks.events(s.sid) {
			if n.EventType != 45 {
				continue
			}
			if n.Payload.Details["msgName"] != "recorder_snapshot_file" || n.Payload.ServiceType != 1 {
				t.Errorf("%s: event 45 %+v", s.name, n.Payload)
			}
			fn, _ := n.Payload.Details["fileName"].(string)
			named[fn]++
		}
		total := 0
		for _, ks := range perUID {
			for _, k := range ks {
				total++
				if named[k] != 1 {
					t.Errorf("%s: %s named by %d events 45", s.name, k, named[k])
				}
			}
		}
		if len(named) != total {
			t.Errorf("%s: events 45 for %d files, %d in the bucket: %v", s.name, len(named), total, named)
		}
		// Event 44 says whose video the session receives (0) and when it
		// stopped (1); no snapshot-only session speaks of audio (43).
		states := map[string][]int{}
		for _, n := range hooks.events(s.sid) {
			if n.EventType == 43 && !s.record {
				t.Errorf("%s: event 43 in a snapshot-only session: %v", s.name, n.Payload.Details)
			}
			if n.EventType != 44 {
				continue
			}
			streams, _ := n.Payload.Details["streams"].([]any)
			for _, st := range streams {
				m, _ := st.(map[string]any)
				uid, _ := m["streamUid"].(string)
				state, _ := m["state"].(float64)
				states[uid] = append(states[uid], int(state))
			}
		}
		for uid := range colours {
			// A recording's tracks say 1 only when a stream stops (not
			// at the stop); the snapshot-only session also at its end.
			got := states[uid]
			if len(got) == 0 || got[0] != 0 || (!s.record && (len(got) < 2 || got[len(got)-1] != 1)) {
				t.Errorf("%s: uid %s video states %v, want 0 first (and 1 last without recording)", s.name, uid, got)
			}
		}
		if len(states["33"]) != 0 {
			t.Errorf("%s: video states of the audio-only uid: %v", s.name, states["33"])
		}
	}
	if v := d.metric(`ars_cloud_snapshots_total{outcome="taken"}`); v < float64(4*(want-1)) {
		t.Errorf("ars_cloud_snapshots_total taken = %v", v)
	}
}

// centre is the colour at the middle of a JPEG, decoded by ffmpeg.
func centre(t *testing.T, path string) [3]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != cfg.Width*cfg.Height*3 {
		t.Fatalf("%s: %v (%d bytes for %dx%d)", path, err, len(out), cfg.Width, cfg.Height)
	}
	i := ((cfg.Height/2)*cfg.Width + cfg.Width/2) * 3
	return [3]int{int(out[i]), int(out[i+1]), int(out[i+2])}
}

func nearRGB(a, b [3]int, tol int) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}
