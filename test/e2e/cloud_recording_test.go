package e2e

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/webhook"
)

const recorderUID = "527841"

func individualStart(token, cname string, s3 *versity, bucket string, mp4 bool) *startReqBody {
	files := []string{"hls"}
	if mp4 {
		files = append(files, "mp4")
	}
	sc := &storageConfig{Vendor: 100, Bucket: bucket, AccessKey: "x", SecretKey: "y", FileNamePrefix: []string{"rec", "day1"}}
	if s3 != nil {
		sc = &storageConfig{Vendor: 11, Region: 0, Bucket: bucket, AccessKey: s3Access, SecretKey: s3Secret,
			FileNamePrefix: []string{"rec", "day1"}, ExtensionParams: &extensionParams{Endpoint: s3.endpoint()}}
	}
	return &startReqBody{Cname: cname, Uid: recorderUID, ClientRequest: &startClientRequest{
		Token: token,
		RecordingConfig: &recordingConfig{ChannelType: 0, StreamTypes: 2, MaxIdleTime: 30,
			SubscribeAudioUIDs: []string{"#allstream#"}, SubscribeVideoUIDs: []string{"#allstream#"}},
		RecordingFileConfig: &recordingFileConfig{AvFileType: files},
		StorageConfig:       sc,
	}}
}

// TestCloudRecordingIndividualHLS records two RTP participants in
// individual mode to a real S3 server while querying, then checks what
// reached the bucket plays, lasts as long as what was sent, and that the
// webhook saw the recording's events, signed and in order.
func TestCloudRecordingIndividualHLS(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("recordings")
	hooks := newHookReceiver(t)
	d := cloudDaemon(t, hooks)
	c := newAgoraClient(t, d, appID)
	const cname = "cloudroom"

	st, acq := c.acquire(cname, recorderUID)
	if st != http.StatusOK || acq.ResourceId == "" || acq.Cname != cname || acq.Uid != recorderUID {
		t.Fatalf("acquire: %d %+v", st, acq)
	}
	token := d.key("media", cname, 527841)
	st, started := c.start(acq.ResourceId, "individual", individualStart(token, cname, s3, "recordings", false))
	if st != http.StatusOK || started.Sid == "" || started.ResourceId != acq.ResourceId {
		t.Fatalf("start: %d %+v", st, started)
	}
	rid, sid := acq.ResourceId, started.Sid

	st, q := c.query(rid, sid)
	if st != http.StatusOK || q.ServerResponse.Status != 5 || q.ServerResponse.FileListMode != "json" || len(q.ServerResponse.FileList) != 0 {
		t.Fatalf("query before media: %d %+v", st, q)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p1 := d.joinRTP(cname, 11, 0x1111, 0x1112)
	send1 := sendMedia(ctx, p1.RTPPort, p1.VideoSSRC, p1.AudioSSRC, 7)
	if err := send1.Start(); err != nil {
		t.Fatal(err)
	}
	listed := func(n int) func() bool {
		return func() bool {
			st, q := c.query(rid, sid)
			return st == http.StatusOK && len(q.ServerResponse.FileList) >= n
		}
	}
	waitFor(t, "the first participant's playlists in the file list", 15*time.Second, listed(2))
	p2 := d.joinRTP(cname, 22, 0x2221, 0x2222)
	send2 := sendMedia(ctx, p2.RTPPort, p2.VideoSSRC, p2.AudioSSRC, 4)
	if err := send2.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second participant's playlists in the file list", 15*time.Second, listed(4))
	for _, s := range []interface{ Wait() error }{send1, send2} {
		if err := s.Wait(); err != nil {
			t.Fatalf("ffmpeg sender: %v", err)
		}
	}

	st, stopped := c.stop(rid, sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" || stopped.ServerResponse.FileListMode != "json" {
		t.Fatalf("stop: %d %+v", st, stopped)
	}
	want := map[string]float64{"11": 7, "22": 4}
	playlists := 0
	for _, f := range stopped.ServerResponse.FileList {
		if f.FileName != "rec/day1/"+sid+"_"+cname+"__uid_s_"+f.Uid+"__uid_e_"+f.TrackType+".m3u8" || f.MixedAllUser || !f.IsPlayable {
			t.Errorf("file list entry %+v", f)
		}
		playlists++
		local := s3.download("recordings", f.FileName, t.TempDir())
		decodeSilently(t, local)
		got := playlistSeconds(t, local)
		// Agora's individual files: H.264 copied, the audio AAC.
		codec, secs := "h264", 0.0
		if f.TrackType == "audio" {
			codec = "aac"
		}
		ps := probePackets(t, local)
		if len(ps) != 1 || ps[0].codec != codec {
			t.Errorf("%s: streams %+v, want one %s", f.FileName, ps, codec)
		} else if codec == "h264" {
			secs = float64(ps[0].packets) / 25
		} else {
			secs = float64(ps[0].packets) * 1024 / 48000
		}
		t.Logf("%s: playlist %.3f s, %s %.3f s of media", filepath.Base(f.FileName), got, codec, secs)
		if math.Abs(secs-want[f.Uid]) > 0.1 {
			t.Errorf("%s holds %.3f s of %s, %.0f s were sent", f.FileName, secs, codec, want[f.Uid])
		}
		if math.Abs(got-want[f.Uid]) > 0.6 {
			t.Errorf("%s lasts %.2f s, %.0f s were sent", f.FileName, got, want[f.Uid])
		}
	}
	if playlists != 4 {
		t.Errorf("%d playlists listed, want 4", playlists)
	}
	keys := s3.keys("recordings")
	for _, f := range stopped.ServerResponse.FileList {
		if !slices.Contains(keys, f.FileName) {
			t.Errorf("%s is not in the bucket", f.FileName)
		}
	}
	// Every other object is a segment named as Agora names them.
	seg := regexp.MustCompile(`^rec/day1/` + sid + `_` + cname + `__uid_s_(11|22)__uid_e_(audio|video)_\d{17}\.ts$`)
	segs := 0
	for _, k := range keys {
		if strings.HasSuffix(k, ".m3u8") {
			continue
		}
		segs++
		if !seg.MatchString(k) {
			t.Errorf("object %s is not an Agora segment name", k)
		}
	}
	if segs < 8 {
		t.Errorf("%d segments in the bucket", segs)
	}

	// After the end: query answers 404 with code 404, a repeated stop 49.
	var e errAnswer
	if st := c.do("GET", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/query", nil, &e); st != 404 || e.Code != 404 {
		t.Errorf("query after stop: %d %+v", st, e)
	}
	if st, a := c.stop(rid, sid, cname, recorderUID); st != 400 || a.Code != 49 {
		t.Errorf("stop after stop: %d %+v", st, a)
	}

	waitFor(t, "session_exit notification", 20*time.Second, func() bool { return hooks.has(sid, webhook.EventSessionExit) })
	evs := hooks.events(sid)
	checkEventOrder(t, evs, webhook.EventUploaded)
	var types []int
	for _, n := range evs {
		types = append(types, n.EventType)
	}
	t.Logf("events: %v", types)
	if hooks.bad != 0 {
		t.Errorf("%d notifications with bad signatures", hooks.bad)
	}
}

// checkEventOrder checks sequence numbers and the life cycle: started
// first, then stream and slice events, the file infos (once a playlist
// is uploaded), then leave, the upload outcome and the exit last.
func checkEventOrder(t *testing.T, evs []notification, outcome int) {
	t.Helper()
	var types []int
	for i, n := range evs {
		types = append(types, n.EventType)
		if n.ProductID != 3 || n.NoticeID == "" || n.Payload.Sequence != i+1 || n.Payload.Details["msgName"] == nil {
			t.Errorf("notification %d: %+v", i, n)
		}
	}
	idx := func(ev int) int { return slices.Index(types, ev) }
	order := []int{webhook.EventRecorderStarted, webhook.EventUploaderStarted, webhook.EventRecorderSliceStart,
		webhook.EventFileInfos, webhook.EventRecorderLeave, outcome, webhook.EventSessionExit}
	for i, ev := range order {
		if idx(ev) < 0 {
			t.Errorf("event %d missing from %v", ev, types)
			continue
		}
		if i > 0 && idx(ev) < idx(order[i-1]) {
			t.Errorf("event %d before %d in %v", ev, order[i-1], types)
		}
	}
	for _, ev := range []int{webhook.EventAudioStreamStateChanged, webhook.EventVideoStreamStateChanged} {
		if i := idx(ev); i < 0 || i > idx(webhook.EventRecorderLeave) {
			t.Errorf("stream state event %d missing or late in %v", ev, types)
		}
	}
	if types[len(types)-1] != webhook.EventSessionExit {
		t.Errorf("last event is %d, want session_exit: %v", types[len(types)-1], types)
	}
}
