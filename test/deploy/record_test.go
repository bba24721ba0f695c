package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Media the tests send: ffmpeg's test pattern and a sine, for mediaSeconds.
const (
	mediaSeconds = 2
	mediaFPS     = 25
)

// lockedBuffer collects a child's output for inspection while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// envList turns ars.env into a process environment, as systemd's
// EnvironmentFile= would: only what the file says, plus PATH.
func envList(env map[string]string) []string {
	list := []string{"PATH=" + os.Getenv("PATH")}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		list = append(list, k+"="+env[k])
	}
	return list
}

// stagedDaemon is `ars serve` run from a staged tree with its ars.env.
type stagedDaemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	ars  string
	env  map[string]string
	out  *lockedBuffer
	done chan error
}

func startStaged(t *testing.T, ars string, env map[string]string) *stagedDaemon {
	t.Helper()
	d := &stagedDaemon{t: t, ars: ars, env: env, out: &lockedBuffer{}, done: make(chan error, 1),
		base: "http://127.0.0.1:" + env["PORT"]}
	d.cmd = exec.Command(ars, "serve")
	d.cmd.Env = envList(env)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			t.Fatalf("daemon exited: %v\n%s", err, d.out.String())
		default:
		}
		if resp, err := http.Get(d.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon not healthy:\n%s", d.out.String())
	return nil
}

// stop sends SIGTERM and requires a clean exit.
func (d *stagedDaemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("daemon exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Error("daemon ignored SIGTERM for 60s")
	}
}

// key mints a key with the staged `ars key`, the credentials coming from
// ars.env through the environment, as an operator's script would.
func (d *stagedDaemon) key(kind, channel string, uid uint32) string {
	d.t.Helper()
	cmd := exec.Command(d.ars, "key", kind, "--channel", channel, "--uid", strconv.FormatUint(uint64(uid), 10))
	cmd.Env = envList(map[string]string{"ARS_APP_ID": d.env["ARS_APP_ID"], "ARS_APP_CERTIFICATE": d.env["ARS_APP_CERTIFICATE"]})
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("ars key %s: %v", kind, err)
	}
	return strings.TrimSpace(string(out))
}

func (d *stagedDaemon) call(method, path string, body, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && json.Unmarshal(raw, out) != nil {
		d.t.Fatalf("%s %s: answer %q", method, path, raw)
	}
	return resp.StatusCode
}

// sendMedia streams real H.264 (libx264) and Opus RTP to port.
func sendMedia(ctx context.Context, port int, videoSSRC, audioSSRC uint32) *exec.Cmd {
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	// -re and -t are input options: each input needs its own, or the sine
	// is read as fast as possible and never ends.
	secs := strconv.Itoa(mediaSeconds)
	return exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-re", "-t", secs, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", mediaFPS),
		"-re", "-t", secs, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-tune", "zerolatency",
		"-g", strconv.Itoa(mediaFPS), "-pix_fmt", "yuv420p", "-b:v", "300k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(videoSSRC), 10), "-payload_type", "96", url,
		"-map", "1:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(audioSSRC), 10), "-payload_type", "111", url)
}

// TestStagedInstallRecords is the operator's first hour: the staged daemon,
// configured only by the staged ars.env, records a channel sent over the
// RTP API; then the staged hourly job turns the capture into an MP4 and
// logs it where the guide says.
func TestStagedInstallRecords(t *testing.T) {
	t.Parallel()
	requireTool(t, "ffmpeg", "ffprobe", "flock")
	bin := stagedBin(t)
	c := newCreds(t)
	dir := t.TempDir()
	destdir := filepath.Join(dir, "stage")
	root := filepath.Join(dir, "recordings")
	port := freeTCPPort(t)
	first, last := freeUDPRange(t, 2)
	mustSucceed(t, runDeploy(t, []string{"ARS_APP_CERTIFICATE=" + c.cert}, "--key="+c.appID,
		"--destdir="+destdir, "--bin-dir="+bin, "--path="+root, "--port="+strconv.Itoa(port),
		"--bind=127.0.0.1", fmt.Sprintf("--rtp-ports=%d-%d", first, last), "--webrtc-port=0"))
	envPath := filepath.Join(destdir, "etc/ars/ars.env")
	// The operator leaves conversion to the hourly job.
	f, err := os.OpenFile(envPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "ARS_TRANSCODE_ON_STOP=false")
	f.Close()
	env := parseEnvFile(t, envPath)
	ars := filepath.Join(destdir, "usr/local/bin/ars")
	d := startStaged(t, ars, env)

	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cmdline, []byte(c.cert)) {
		t.Fatal("the certificate is on the daemon's command line")
	}

	const channel, uid = "deploy check", 4242
	const videoSSRC, audioSSRC = 0x5151, 0x6161
	var joined struct {
		ID      string `json:"id"`
		RTPPort int    `json:"rtpPort"`
	}
	if code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": uid, "key": d.key("media", channel, uid),
		"streams": []map[string]any{
			{"ssrc": videoSSRC, "payloadType": 96, "codec": "H264", "clockRate": 90000, "fmtp": "packetization-mode=1"},
			{"ssrc": audioSSRC, "payloadType": 111, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &joined); code != http.StatusCreated || joined.RTPPort < first || joined.RTPPort > last {
		t.Fatalf("join: %d %+v", code, joined)
	}
	var started struct {
		Recording bool   `json:"recording"`
		Directory string `json:"directory"`
	}
	if code := d.call("POST", "/v1/recording/start", map[string]any{"channel": channel, "uid": uid,
		"key": d.key("recording", channel, uid), "tag": "deploy"}, &started); code != http.StatusOK || !started.Recording {
		t.Fatalf("start: %d %+v", code, started)
	}
	if !strings.HasPrefix(started.Directory, root+"/") {
		t.Fatalf("recording directory %s is not under AGORA_FILE_ROOT %s", started.Directory, root)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := sendMedia(ctx, joined.RTPPort, videoSSRC, audioSSRC).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if code := d.call("POST", "/v1/recording/stop", map[string]any{"channel": channel, "uid": uid,
		"key": d.key("recording", channel, uid)}, nil); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	d.call("DELETE", "/v1/rtp/"+joined.ID, nil, nil)
	d.stop()
	if strings.Contains(d.out.String(), c.cert) {
		t.Fatal("the daemon logged the certificate")
	}

	captures, _ := filepath.Glob(filepath.Join(started.Directory, fmt.Sprintf("%d_*.tmp", uid)))
	if len(captures) != 1 {
		t.Fatalf("captures in %s: %v", started.Directory, captures)
	}
	capture := captures[0]
	checkCapture(t, capture, channel, uid, videoSSRC, audioSSRC)

	// The hourly job, pointed at the staged files; as root it would run the
	// transcoder as user ars, here as the test's own user.
	logPath := filepath.Join(dir, "agora_hourly.log")
	lock := filepath.Join(dir, "transcode.lock")
	hourly := func() (string, error) {
		cmd := exec.Command(filepath.Join(destdir, "etc/cron.hourly/agora_hourly"))
		cmd.Env = append(cleanEnv(), "ARS_ENV_FILE="+envPath, "ARS_HOURLY_LOG="+logPath,
			"ARS_TRANSCODE_LOCK="+lock, "ARS_TRANSCODER="+filepath.Join(destdir, "usr/local/bin/transcoder"),
			"ARS_RUN_AS="+currentUser(t))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := hourly(); err != nil {
		t.Fatalf("agora_hourly: %v %s\nlog:\n%s", err, out, readFile(t, logPath))
	}
	mp4 := strings.TrimSuffix(capture, ".tmp") + ".mp4"
	checkMP4(t, mp4)
	log := readFile(t, logPath)
	if !strings.Contains(log, "agora_hourly: pass starts") || !strings.Contains(log, "agora_hourly: pass done") {
		t.Fatalf("hourly log:\n%s", log)
	}
	if strings.Contains(log, "error") {
		t.Fatalf("`grep error` finds a line in a clean pass:\n%s", log)
	}
	if strings.Contains(log, c.cert) {
		t.Fatal("the hourly log holds the certificate")
	}

	// A pass still running (its lock held) makes the next one skip.
	lf, err := os.OpenFile(lock, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, err := hourly(); err != nil {
		t.Fatalf("agora_hourly while locked: %v %s", err, out)
	}
	if log := readFile(t, logPath); !strings.Contains(log, "the previous pass is still running; skipped") {
		t.Fatalf("hourly log after a locked run:\n%s", log)
	}
}

func currentUser(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// checkCapture requires a complete capture of both streams.
func checkCapture(t *testing.T, path, channel string, uid uint32, ssrcs ...uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != storage.FileMode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), storage.FileMode)
	}
	r, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := storage.Summarize(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Torn || s.Header.Channel != channel || s.Header.UID != uid {
		t.Fatalf("capture: torn=%v header %+v", s.Torn, s.Header)
	}
	for _, ssrc := range ssrcs {
		st := s.Stream(ssrc)
		if st == nil || st.Packets == 0 || st.Gaps != 0 {
			t.Fatalf("capture stream %#x: %+v", ssrc, st)
		}
	}
}

// checkMP4 judges an MP4 with ffmpeg (which, unlike ffprobe, notices a
// truncated file) and counts its video frames against what was sent.
func checkMP4(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("ffmpeg -xerror %s: %v\n%s", path, err, out)
	}
	probe := func(stream, entry string) string {
		out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", stream,
			"-show_entries", "stream="+entry, "-of", "csv=p=0", path).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", path, err)
		}
		return strings.TrimSpace(string(out))
	}
	frames, err := strconv.Atoi(strings.TrimSuffix(probe("v:0", "nb_read_frames"), ","))
	if err != nil {
		t.Fatalf("video frames of %s: %v", path, err)
	}
	sent := mediaSeconds * mediaFPS
	if frames < sent*9/10 || frames > sent {
		t.Fatalf("%s has %d video frames; %d were sent", path, frames, sent)
	}
	if codec := probe("a:0", "codec_name"); codec != "opus" {
		t.Fatalf("%s audio codec %q, want opus", path, codec)
	}
}
