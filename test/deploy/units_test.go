package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ars-project/ars/internal/config"
)

// verifyUnits runs `systemd-analyze verify` on units whose programs live
// under binDir (ExecStart= paths are rewritten to it, since verify checks
// that they exist) and fails on any complaint.
func verifyUnits(t *testing.T, unitDir, binDir, oldBin string) {
	t.Helper()
	requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	var units []string
	for _, u := range []string{"ars.service", "ars-transcode.service", "ars-transcode.timer"} {
		b, err := os.ReadFile(filepath.Join(unitDir, u))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), oldBin+"/ars ", binDir+"/ars ")
		s = strings.ReplaceAll(s, oldBin+"/transcoder ", binDir+"/transcoder ")
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...)
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	// Messages about the host, not the units: a container without systemd
	// as PID 1 may lack a bus or a booted system.
	if err != nil && (strings.Contains(text, "Failed to connect to bus") ||
		strings.Contains(text, "System has not been booted with systemd")) {
		t.Skipf("systemd-analyze cannot run here: %s", text)
	}
	if err != nil || text != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, text)
	}

	// The offline security review scores the hardening (0 best, 10 worst).
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", units[0], units[1]).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline unavailable: %v", err)
		return
	}
	re := regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		level, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("exposure %s: %.1f", m[1], level)
		if level > 2.0 {
			t.Errorf("%s exposure level %.1f: hardening regressed (was at most 2.0)", m[1], level)
		}
	}
}

func TestUnitsVerify(t *testing.T) {
	t.Parallel()
	t.Run("repository", func(t *testing.T) {
		verifyUnits(t, filepath.Join(repoRoot(t), "systemd"), stagedBin(t), "/usr/bin")
	})
	t.Run("staged by deploy.sh", func(t *testing.T) {
		destdir, _, _, _ := sourceStage(t)
		verifyUnits(t, filepath.Join(destdir, "etc/systemd/system"), stagedBin(t), "/usr/local/bin")
	})
}

// unitSettings reads Key=Value lines of one unit file.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// TestServiceUnitContract pins what ars.service promises the daemon and
// the operator.
func TestServiceUnitContract(t *testing.T) {
	t.Parallel()
	s := unitSettings(t, filepath.Join(repoRoot(t), "systemd/ars.service"))
	want := map[string]string{
		"Type": "notify", "User": "ars", "Restart": "on-failure", "EnvironmentFile": "/etc/ars/ars.env",
		"NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes", "ProtectSystem": "strict",
		"ReadWritePaths": "/var/lib/ars", "ExecStart": "/usr/bin/ars serve",
	}
	for k, v := range want {
		if got := strings.Join(s[k], " "); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	families := strings.Fields(strings.Join(s["RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_INET", "AF_INET6", "AF_UNIX"} {
		if !contains(families, f) {
			t.Errorf("RestrictAddressFamilies lacks %s (AF_UNIX carries sd_notify)", f)
		}
	}
	if n, err := strconv.Atoi(strings.Join(s["LimitNOFILE"], "")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%v: want a raised limit", s["LimitNOFILE"])
	}
	stop := parseSeconds(t, "TimeoutStopSec", strings.Join(s["TimeoutStopSec"], ""))
	if def := config.Default().ShutdownTimeout.Seconds(); stop <= def {
		t.Errorf("TimeoutStopSec=%vs does not exceed ARS_SHUTDOWN_TIMEOUT's default %vs", stop, def)
	}
	if wd := parseSeconds(t, "WatchdogSec", strings.Join(s["WatchdogSec"], "")); wd <= 0 {
		t.Errorf("WatchdogSec=%v", wd)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseSeconds(t *testing.T, key, v string) float64 {
	t.Helper()
	n, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
	if err != nil {
		t.Fatalf("%s=%q is not in seconds", key, v)
	}
	return n
}

// TestSysctlFile: every key exists in this kernel, and the receive buffer
// ceiling admits what the daemon asks for by default.
func TestSysctlFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot(t), "packaging/sysctl/60-ars.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s = %q", k, v)
		}
		got[k] = n
		if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(k, ".", "/")); err != nil {
			t.Errorf("%s: not a sysctl of this kernel: %v", k, err)
		}
	}
	if rcv := config.Default().UDPReadBuffer; got["net.core.rmem_max"] < rcv {
		t.Errorf("net.core.rmem_max %d is below ARS_UDP_RCVBUF's default %d", got["net.core.rmem_max"], rcv)
	}
}

// TestLogrotate: logrotate accepts the file, and a forced rotation (as
// root, where `create ... root adm` can apply) keeps the log's mode.
func TestLogrotate(t *testing.T) {
	t.Parallel()
	requireTool(t, "logrotate")
	dir := t.TempDir()
	conf := readFile(t, filepath.Join(repoRoot(t), "packaging/logrotate/ars"))
	logPath := filepath.Join(dir, "agora_hourly.log")
	conf = strings.Replace(conf, "/var/log/agora_hourly.log", logPath, 1)
	if os.Geteuid() != 0 {
		conf = strings.Replace(conf, "create 0640 root adm", "create 0640", 1)
	}
	confPath := filepath.Join(dir, "ars.conf")
	writeFile(t, confPath, conf)
	if err := os.WriteFile(logPath, []byte("2026-01-01 agora_hourly: pass done\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	out, err := exec.Command("logrotate", "--force", "--state", state, confPath).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
	if !exists(logPath + ".1") {
		t.Fatalf("no rotated log (delaycompress keeps .1 plain): %s", out)
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatalf("no fresh log after rotation: %v", err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("fresh log mode %v, want 0640", fi.Mode().Perm())
	}
}
