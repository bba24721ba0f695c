package e2e

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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/freeport"
)

// Credentials every test daemon runs with.
const (
	appID   = "970ca35de60c44645bbae8a215061b33"
	appCert = "5cfd2fd1755d40ecb72977518be15d3b"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds ./cmd/ars and ./cmd/transcoder once per test run.
func binaries(t *testing.T) (ars, transcoder string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ars-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"ars", "transcoder"} {
			cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(binDir, name), "./cmd/"+name)
			if os.Getenv("ARS_E2E_NORACE") != "" || !raceSupported() {
				cmd = exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./cmd/"+name)
			}
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", name, err, out)
				return
			}
		}
		// The compositor is native (cgo, GStreamer) and never raced:
		// beside ars and transcoder, where both look for it.
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "ars-mixer"), "./cmd/ars-mixer")
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build ars-mixer: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "ars"), filepath.Join(binDir, "transcoder")
}

func raceSupported() bool { return runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" }

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test installs it)", tool)
		}
	}
}

// freeTCPPort asks the kernel for an unused loopback port.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	p, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeUDPRange finds n consecutive bindable UDP ports on loopback.
func freeUDPRange(t *testing.T, n int) (int, int) {
	t.Helper()
	first, last, err := freeport.UDPRange(n)
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}

// daemon is one running `ars serve`.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	root   string
	ars    string
	out    *lockedBuffer
	exited chan error
}

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

// startDaemon runs `ars serve` on loopback with extra environment settings
// and waits until /healthz answers.
func startDaemon(t *testing.T, extraEnv ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, t.TempDir(), extraEnv...)
}

// startDaemonOn runs `ars serve` on a given recording root (a restart after
// a crash, a root on a filesystem the test prepared): free loopback ports,
// the test credentials, no WebRTC, debug logs. extraEnv comes last and so
// overrides any of these. Inside a test's network namespace the binary the
// parent built is used (arsBinEnv).
func startDaemonOn(t *testing.T, root string, extraEnv ...string) *daemon {
	t.Helper()
	ars := os.Getenv(arsBinEnv)
	if ars == "" {
		ars, _ = binaries(t)
	}
	httpPort := freeTCPPort(t)
	first, last := freeUDPRange(t, 4)
	env := append(daemonEnv(root, httpPort, first, last), extraEnv...)
	return runDaemon(t, ars, root, httpPort, env)
}

// daemonEnv is the environment of a test daemon: the given root and
// ports on loopback, the test credentials, no WebRTC, debug logs.
func daemonEnv(root string, httpPort, first, last int) []string {
	return append(os.Environ(),
		"AGORA_FILE_ROOT="+root,
		"PORT="+strconv.Itoa(httpPort),
		"ARS_BIND=127.0.0.1",
		fmt.Sprintf("ARS_RTP_PORTS=%d-%d", first, last),
		"ARS_WEBRTC_PORT=0",
		"ARS_APP_ID="+appID,
		"ARS_APP_CERTIFICATE="+appCert,
		"ARS_LOG_LEVEL=debug",
	)
}

func runDaemon(t *testing.T, ars, root string, httpPort int, env []string) *daemon {
	t.Helper()
	cmd := exec.Command(ars, "serve")
	cmd.Env = env
	return runDaemonCmd(t, cmd, ars, root, httpPort)
}

// runDaemonCmd starts cmd (an `ars serve`, perhaps behind a wrapper that
// passes it sockets) and waits until /healthz answers.
func runDaemonCmd(t *testing.T, cmd *exec.Cmd, ars, root string, httpPort int) *daemon {
	t.Helper()
	d := &daemon{t: t, root: root, ars: ars, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), out: &lockedBuffer{}, exited: make(chan error, 1)}
	d.cmd = cmd
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exited:
			t.Fatalf("daemon exited early: %v\n%s", err, d.out.String())
		default:
		}
		resp, err := http.Get(d.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon not healthy in time:\n%s", d.out.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			d.t.Errorf("daemon exit: %v", err)
		}
		d.exited <- err
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Error("daemon did not stop within 60s of SIGTERM")
	}
}

// key runs `ars key KIND` with the test credentials in the environment.
func (d *daemon) key(kind, channel string, uid uint32, extra ...string) string {
	d.t.Helper()
	args := append([]string{"key", kind, "--channel", channel, "--uid", strconv.FormatUint(uint64(uid), 10)}, extra...)
	cmd := exec.Command(d.ars, args...)
	cmd.Env = append(os.Environ(), "ARS_APP_ID="+appID, "ARS_APP_CERTIFICATE="+appCert)
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("ars %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// call sends a JSON request and decodes the JSON answer into out.
func (d *daemon) call(method, path string, body any, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.t.Fatal(err)
		}
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
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// metric reads one sample from /metrics (labels written as in the exposition).
func (d *daemon) metric(name string) float64 {
	d.t.Helper()
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v
		}
	}
	return 0
}

type participant struct {
	ID        string `json:"id"`
	RTPPort   int    `json:"rtpPort"`
	VideoSSRC uint32 `json:"-"`
	AudioSSRC uint32 `json:"-"`
}

// joinRTP joins uid with one H.264 and one Opus stream.
func (d *daemon) joinRTP(channel string, uid, videoSSRC, audioSSRC uint32) participant {
	d.t.Helper()
	var p participant
	code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": uid, "key": d.key("media", channel, uid),
		"streams": []map[string]any{
			{"ssrc": videoSSRC, "payloadType": 96, "codec": "H264", "clockRate": 90000, "fmtp": "packetization-mode=1"},
			{"ssrc": audioSSRC, "payloadType": 111, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &p)
	if code != http.StatusCreated || p.ID == "" || p.RTPPort == 0 {
		d.t.Fatalf("join uid %d: status %d %+v", uid, code, p)
	}
	p.VideoSSRC, p.AudioSSRC = videoSSRC, audioSSRC
	return p
}

// sendMedia runs ffmpeg sending real H.264 (libx264, baseline) and Opus
// RTP with fixed SSRCs to the participant's port for the given time.
func sendMedia(ctx context.Context, port int, videoSSRC, audioSSRC uint32, seconds float64) *exec.Cmd {
	url := fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	dur := strconv.FormatFloat(seconds, 'f', 2, 64)
	// -re and -t are input options: each source is paced and bounded.
	args := []string{"-hide_banner", "-loglevel", "error",
		"-re", "-t", dur, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-re", "-t", dur, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-tune", "zerolatency",
		"-g", "25", "-pix_fmt", "yuv420p", "-b:v", "450k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(videoSSRC), 10), "-payload_type", "96", url,
		"-map", "1:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "48k",
		"-f", "rtp", "-ssrc", strconv.FormatUint(uint64(audioSSRC), 10), "-payload_type", "111", url,
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stdout = io.Discard
	return cmd
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
