package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ars-project/ars/internal/webhook"
)

// Cloud recording credentials every cloud test daemon runs with.
const (
	customerID     = "ars-customer"
	customerSecret = "ars-customer-secret"
	webhookSecret  = "ars-webhook-secret"
	s3Access       = "arsaccesskey"
	s3Secret       = "arssecretkey123"
)

// The request bodies below are those of the official Go client
// (github.com/AgoraIO-Community/agora-rest-client-go,
// services/cloudrecording/v1), field for field, with the same JSON tags
// and omitempty rules.

type acquireReqBody struct {
	Cname         string                `json:"cname"`
	Uid           string                `json:"uid"`
	ClientRequest *acquireClientRequest `json:"clientRequest"`
}

type acquireClientRequest struct {
	Scene               int `json:"scene"`
	ResourceExpiredHour int `json:"resourceExpiredHour,omitempty"`
}

type startReqBody struct {
	Cname         string              `json:"cname"`
	Uid           string              `json:"uid"`
	ClientRequest *startClientRequest `json:"clientRequest"`
}

type startClientRequest struct {
	Token               string               `json:"token,omitempty"`
	RecordingConfig     *recordingConfig     `json:"recordingConfig,omitempty"`
	RecordingFileConfig *recordingFileConfig `json:"recordingFileConfig,omitempty"`
	StorageConfig       *storageConfig       `json:"storageConfig,omitempty"`
}

type recordingConfig struct {
	ChannelType          int      `json:"channelType"`
	StreamTypes          int      `json:"streamTypes"`
	StreamMode           string   `json:"streamMode,omitempty"`
	DecryptionMode       int      `json:"decryptionMode,omitempty"`
	Secret               string   `json:"secret,omitempty"`
	Salt                 string   `json:"salt,omitempty"`
	AudioProfile         int      `json:"audioProfile,omitempty"`
	VideoStreamType      int      `json:"videoStreamType,omitempty"`
	MaxIdleTime          int      `json:"maxIdleTime,omitempty"`
	SubscribeAudioUIDs   []string `json:"subscribeAudioUids,omitempty"`
	UnsubscribeAudioUIDs []string `json:"unSubscribeAudioUids,omitempty"`
	SubscribeVideoUIDs   []string `json:"subscribeVideoUids,omitempty"`
	UnsubscribeVideoUIDs []string `json:"unSubscribeVideoUids,omitempty"`
	SubscribeUidGroup    int      `json:"subscribeUidGroup"`
	// TranscodingConfig is mix mode's canvas and layout
	// (mix_cloud_helpers_test.go).
	TranscodingConfig *mixTranscodingConfig `json:"transcodingConfig,omitempty"`
}

type recordingFileConfig struct {
	AvFileType []string `json:"avFileType"`
}

type storageConfig struct {
	Vendor         int      `json:"vendor"`
	Region         int      `json:"region"`
	Bucket         string   `json:"bucket"`
	AccessKey      string   `json:"accessKey"`
	SecretKey      string   `json:"secretKey"`
	FileNamePrefix []string `json:"fileNamePrefix,omitempty"`
	// The client's ExtensionParams has sse and tag only; Agora's
	// documentation adds endpoint for vendor 11, which ars needs.
	ExtensionParams *extensionParams `json:"extensionParams,omitempty"`
}

type extensionParams struct {
	SSE      string `json:"sse"`
	Tag      string `json:"tag"`
	Endpoint string `json:"endpoint,omitempty"`
}

type updateReqBody struct {
	Cname         string               `json:"cname"`
	Uid           string               `json:"uid"`
	ClientRequest *updateClientRequest `json:"clientRequest"`
}

type updateClientRequest struct {
	StreamSubscribe *struct {
		AudioUidList *struct {
			SubscribeAudioUIDs []string `json:"subscribeAudioUids,omitempty"`
		} `json:"audioUidList,omitempty"`
		VideoUidList *struct {
			SubscribeVideoUIDs []string `json:"subscribeVideoUids,omitempty"`
		} `json:"videoUidList,omitempty"`
	} `json:"streamSubscribe,omitempty"`
}

type stopReqBody struct {
	Cname         string             `json:"cname"`
	Uid           string             `json:"uid"`
	ClientRequest *stopClientRequest `json:"clientRequest"`
}

type stopClientRequest struct {
	AsyncStop bool `json:"async_stop"`
}

// Answers.

type errAnswer struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

type cloudFile struct {
	FileName       string `json:"fileName"`
	TrackType      string `json:"trackType"`
	Uid            string `json:"uid"`
	MixedAllUser   bool   `json:"mixedAllUser"`
	IsPlayable     bool   `json:"isPlayable"`
	SliceStartTime int64  `json:"sliceStartTime"`
}

type cloudAnswer struct {
	errAnswer
	Cname          string `json:"cname"`
	Uid            string `json:"uid"`
	ResourceId     string `json:"resourceId"`
	Sid            string `json:"sid"`
	ServerResponse struct {
		Status          int         `json:"status"`
		FileListMode    string      `json:"fileListMode"`
		FileList        []cloudFile `json:"fileList"`
		UploadingStatus string      `json:"uploadingStatus"`
		SliceStartTime  int64       `json:"sliceStartTime"`
	} `json:"serverResponse"`
}

// agoraClient does what the official Go client (v0.12.0) does in
// client.DoREST and its API handlers: JSON body, Content-Type
// application/json;charset=utf-8, Basic credentials, a 10 s timeout; 200
// and 201 are success, 400..498 are returned at once, and every other
// answer (206 included) is retried, 3 tries in all with 1 s and 2 s
// between them.
type agoraClient struct {
	t        *testing.T
	base     string // http://host:port/v1/apps/{appid}/cloud_recording
	user     string
	password string
	http     *http.Client
	attempts int // requests sent by the last call, retries included
	// header is the last answer's (the client's GetRequestID reads its
	// X-Request-Id); raw its body.
	header http.Header
	raw    []byte
}

func newAgoraClient(t *testing.T, d *daemon, app string) *agoraClient {
	return &agoraClient{t: t, base: d.base + "/v1/apps/" + app + "/cloud_recording", user: customerID,
		password: customerSecret, http: &http.Client{Timeout: 10 * time.Second}}
}

// clientRetries are the official client's tries of one call and the
// waits between them.
var clientRetries = []time.Duration{time.Second, 2 * time.Second}

func (c *agoraClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	c.attempts = 0
	var status int
	var raw []byte
	for try := 0; ; try++ {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, c.base+path, rd)
		if err != nil {
			c.t.Fatal(err)
		}
		req.SetBasicAuth(c.user, c.password)
		req.Header.Set("Content-Type", "application/json;charset=utf-8")
		c.attempts++
		resp, err := c.http.Do(req)
		if err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status, c.header, c.raw = resp.StatusCode, resp.Header, raw
		if status == http.StatusOK || status == http.StatusCreated || (status >= 400 && status <= 498) || try >= len(clientRetries) {
			break
		}
		time.Sleep(clientRetries[try])
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return status
}

func (c *agoraClient) acquire(cname, uid string) (int, cloudAnswer) {
	var a cloudAnswer
	st := c.do("POST", "/acquire", &acquireReqBody{Cname: cname, Uid: uid, ClientRequest: &acquireClientRequest{}}, &a)
	return st, a
}

func (c *agoraClient) start(rid, mode string, body *startReqBody) (int, cloudAnswer) {
	var a cloudAnswer
	st := c.do("POST", "/resourceid/"+rid+"/mode/"+mode+"/start", body, &a)
	return st, a
}

func (c *agoraClient) query(rid, sid string) (int, cloudAnswer) {
	var a cloudAnswer
	st := c.do("GET", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/query", nil, &a)
	return st, a
}

func (c *agoraClient) stop(rid, sid, cname, uid string) (int, cloudAnswer) {
	var a cloudAnswer
	st := c.do("POST", "/resourceid/"+rid+"/sid/"+sid+"/mode/individual/stop",
		&stopReqBody{Cname: cname, Uid: uid, ClientRequest: &stopClientRequest{}}, &a)
	return st, a
}

// versity is a versitygw S3 server on loopback.
type versity struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func versitygwPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		t.Skip("versitygw not installed (scripts/install-versitygw.sh installs it)")
	}
	return p
}

func startVersity(t *testing.T) *versity {
	t.Helper()
	v := &versity{t: t, bin: versitygwPath(t), dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))}
	v.start()
	t.Cleanup(v.kill)
	return v
}

func (v *versity) start() {
	v.t.Helper()
	v.cmd = exec.Command(v.bin, "--access", s3Access, "--secret", s3Secret, "--port", v.addr, "posix", "--nometa", v.dir)
	v.cmd.Stdout, v.cmd.Stderr = io.Discard, io.Discard
	if err := v.cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	v.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(v.cmd, v.done)
	waitFor(v.t, "versitygw listening", 20*time.Second, func() bool {
		c, err := net.Dial("tcp", v.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill stops the server abruptly (an outage).
func (v *versity) kill() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	select {
	case <-v.done:
		return
	default:
	}
	_ = v.cmd.Process.Kill()
	<-v.done
}

func (v *versity) endpoint() string { return "http://" + v.addr }

func (v *versity) client() *minio.Client {
	v.t.Helper()
	c, err := minio.New(v.addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Region: "us-east-1",
		BucketLookup: minio.BucketLookupPath})
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

func (v *versity) makeBucket(name string) {
	v.t.Helper()
	if err := v.client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		v.t.Fatal(err)
	}
}

// keys lists the bucket's object keys.
func (v *versity) keys(bucket string) []string {
	v.t.Helper()
	var keys []string
	for o := range v.client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			v.t.Fatalf("list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// download fetches a playlist and everything it names into dir and
// returns the local playlist path.
func (v *versity) download(bucket, playlistKey, dir string) string {
	v.t.Helper()
	c := v.client()
	get := func(key string) string {
		dst := filepath.Join(dir, filepath.Base(key))
		if err := c.FGetObject(context.Background(), bucket, key, dst, minio.GetObjectOptions{}); err != nil {
			v.t.Fatalf("get %s: %v", key, err)
		}
		return dst
	}
	local := get(playlistKey)
	prefix := ""
	if i := strings.LastIndex(playlistKey, "/"); i >= 0 {
		prefix = playlistKey[:i+1]
	}
	b, _ := os.ReadFile(local)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:URI="):
			get(prefix + strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`))
		case strings.HasPrefix(line, "#EXT-X-MEDIA:") && strings.Contains(line, `URI="`):
			// A master playlist's audio rendition: a playlist too.
			uri := line[strings.Index(line, `URI="`)+5:]
			v.download(bucket, prefix+uri[:strings.Index(uri, `"`)], dir)
		case strings.HasSuffix(line, ".m3u8") && !strings.HasPrefix(line, "#"):
			v.download(bucket, prefix+line, dir)
		case line != "" && !strings.HasPrefix(line, "#"):
			get(prefix + line)
		}
	}
	return local
}

// notification is a received webhook as the tests read it: the details
// as plain JSON values (ars sends notification).
type notification struct {
	NoticeID  string `json:"noticeId"`
	ProductID int    `json:"productId"`
	EventType int    `json:"eventType"`
	NotifyMs  int64  `json:"notifyMs"`
	Payload   struct {
		Cname       string         `json:"cname"`
		UID         string         `json:"uid"`
		SID         string         `json:"sid"`
		Sequence    int            `json:"sequence"`
		SendTs      int64          `json:"sendts"`
		ServiceType int            `json:"serviceType"`
		Details     map[string]any `json:"details"`
	} `json:"payload"`
}

// hookReceiver is a webhook endpoint that checks both signatures.
type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []notification
	bad int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify(webhookSecret, body, r.Header.Get("Agora-Signature"), r.Header.Get("Agora-Signature-V2")) {
			h.mu.Lock()
			h.bad++
			h.mu.Unlock()
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var n notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, n)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// events returns the notifications of one recording in arrival order.
func (h *hookReceiver) events(sid string) []notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notification
	for _, n := range h.got {
		if n.Payload.SID == sid {
			out = append(out, n)
		}
	}
	return out
}

func (h *hookReceiver) has(sid string, eventType int) bool {
	for _, n := range h.events(sid) {
		if n.EventType == eventType {
			return true
		}
	}
	return false
}

// playlistSeconds sums a playlist's EXTINF durations.
func playlistSeconds(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			if err != nil {
				t.Fatalf("bad EXTINF %q", line)
			}
			total += f
		}
	}
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("%s has no EXT-X-ENDLIST", path)
	}
	return total
}

// probedStream is one stream of a file as ffprobe counts it.
type probedStream struct {
	kind, codec string
	packets     int
}

// probePackets lists the streams of path (a playlist or a file) with
// their packets counted by reading them all.
func probePackets(t *testing.T, path string) []probedStream {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries",
		"stream=codec_type,codec_name,nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var ps []probedStream
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		n, _ := strconv.Atoi(f[2])
		p := probedStream{codec: f[0], kind: f[1], packets: n}
		if !slices.Contains(ps, p) {
			// A playlist's streams are listed again under its program.
			ps = append(ps, p)
		}
	}
	return ps
}

// decodeSilently runs ffmpeg -xerror on path; any output fails the test.
func decodeSilently(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg decode of %s: err=%v output:\n%s", path, err, out)
	}
}

func cloudDaemon(t *testing.T, hooks *hookReceiver, extra ...string) *daemon {
	t.Helper()
	env := []string{"ARS_CLOUD_CUSTOMER_ID=" + customerID, "ARS_CLOUD_CUSTOMER_SECRET=" + customerSecret,
		"ARS_CLOUD_SEGMENT_DURATION=2s", "ARS_CLOUD_BACKUP_RETRY=1s", "ARS_IDLE_TIMEOUT=5s",
		// versitygw runs on loopback, which the outbound policy refuses
		// unless allowed.
		"ARS_OUTBOUND_ALLOW=127.0.0.1/32"}
	if hooks != nil {
		env = append(env, "ARS_WEBHOOK_URL="+hooks.srv.URL, "ARS_WEBHOOK_SECRET="+webhookSecret)
	}
	return startDaemon(t, append(env, extra...)...)
}

func minioGet() minio.GetObjectOptions { return minio.GetObjectOptions{} }
