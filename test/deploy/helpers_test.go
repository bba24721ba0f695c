package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/freeport"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func deployScript(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy.sh") }

func randomHex32(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// creds is a fresh app ID and certificate: a random certificate makes
// "the certificate appears nowhere else" a check that can fail.
type creds struct{ appID, cert string }

func newCreds(t testing.TB) creds { return creds{randomHex32(t), randomHex32(t)} }

// result is one run of deploy.sh.
type result struct {
	out  string // stdout and stderr, interleaved
	code int
}

// runDeploy runs deploy.sh with args and extra environment (no inherited
// ARS_* variables) and returns its output and exit status.
func runDeploy(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, deployScript(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, out)
	}
	return result{string(out), code}
}

// cleanEnv is the test's environment without anything ars reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ARS_") || k == "AGORA_FILE_ROOT" || k == "PORT" ||
			k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.out), "deploy successfully") {
		t.Fatalf("deploy.sh exit %d, want success:\n%s", r.code, r.out)
	}
}

// buildMu serialises Go builds: concurrent cold builds of the same
// packages compete for 2 cores and have been seen to fail to share the
// cache. Every build uses deploy.sh's flags, so after the first one the
// others only link.
var buildMu sync.Mutex

// goBuildFlags are the flags deploy.sh and packaging/debian/build.sh use.
var goBuildFlags = []string{"-trimpath", "-buildmode=pie"}

// goBuild builds pkg (relative to the repository) into out.
func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	cmd := exec.Command("go", append(append([]string{"build"}, goBuildFlags...), "-o", out, pkg)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cleanEnv(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

var (
	sourceOnce   sync.Once
	sourceDir    string
	sourceResult result
	sourceCreds  creds
	sourcePorts  ports
	sourceErr    error
)

// sourceStage stages deploy.sh once per test binary, building ars and
// transcoder from this checkout as an operator's first run does. Other
// tests install the binaries it built (--bin-dir) instead of building again.
func sourceStage(t *testing.T) (destdir string, c creds, p ports, r result) {
	t.Helper()
	sourceOnce.Do(func() {
		buildMu.Lock()
		defer buildMu.Unlock()
		sourceDir, sourceErr = os.MkdirTemp("", "ars-deploy-source-")
		if sourceErr != nil {
			return
		}
		sourceCreds = newCreds(t)
		sourcePorts = freePorts(t)
		cmd := exec.Command(deployScript(t), append([]string{"--key=" + sourceCreds.appID, "--destdir=" + sourceDir,
			"--path=/srv/ars/recordings"}, sourcePorts.args()...)...)
		cmd.Env = append(cleanEnv(), "ARS_APP_CERTIFICATE="+sourceCreds.cert)
		out, err := cmd.CombinedOutput()
		sourceResult = result{out: string(out)}
		if err != nil {
			sourceErr = fmt.Errorf("deploy.sh from source: %v\n%s", err, out)
		}
	})
	if sourceErr != nil {
		t.Fatal(sourceErr)
	}
	return sourceDir, sourceCreds, sourcePorts, sourceResult
}

// stagedBin is the directory of the binaries deploy.sh built.
func stagedBin(t *testing.T) string {
	d, _, _, _ := sourceStage(t)
	return filepath.Join(d, "usr/local/bin")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sourceDir != "" {
		os.RemoveAll(sourceDir)
	}
	for _, d := range debDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// manifestEntry is one line of etc/ars/deploy-manifest.
type manifestEntry struct {
	typ   string // f or d
	mode  fs.FileMode
	owner string // user:group
}

func readManifest(t *testing.T, destdir string) map[string]manifestEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(destdir, "etc/ars/deploy-manifest"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]manifestEntry{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("manifest line %q", line)
		}
		var mode uint32
		if _, err := fmt.Sscanf(f[1], "%o", &mode); err != nil {
			t.Fatalf("manifest mode %q", f[1])
		}
		if _, dup := m[f[3]]; dup {
			t.Fatalf("manifest lists %s twice", f[3])
		}
		m[f[3]] = manifestEntry{typ: f[0], mode: fs.FileMode(mode), owner: f[2]}
	}
	return m
}

// parseEnvFile reads an EnvironmentFile the way systemd does for the simple
// KEY=VALUE lines ars.env holds.
func parseEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", path, line)
		}
		env[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// filesContaining lists the regular files under dir whose content holds s.
func filesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			rel, _ := filepath.Rel(dir, p)
			hits = append(hits, "/"+rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
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

// ports is a free HTTP port, RTP range and WebRTC port: deploy.sh checks
// them all, and other programs on a shared machine may hold the defaults.
type ports struct {
	http, rtpFirst, rtpLast, webrtc int
}

func freePorts(t *testing.T) ports {
	t.Helper()
	first, last := freeUDPRange(t, 3)
	return ports{http: freeTCPPort(t), rtpFirst: first, rtpLast: last - 1, webrtc: last}
}

func (p ports) args() []string {
	return []string{"--port=" + strconv.Itoa(p.http), fmt.Sprintf("--rtp-ports=%d-%d", p.rtpFirst, p.rtpLast),
		"--webrtc-port=" + strconv.Itoa(p.webrtc)}
}

func requireTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test-deps installs it)", tool)
		}
	}
}
