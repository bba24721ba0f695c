package deploy

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestDebVersion(t *testing.T) {
	t.Parallel()
	requireTool(t, "dpkg")
	tests := []struct{ raw, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git4.gabc1234+dirty"},
		{"96aa351", "0.0.0~git96aa351"},
		{"96aa351-dirty", "0.0.0~git96aa351+dirty"},
		{"1234567", "0.0.0~git1234567"}, // an abbreviated hash of decimal digits only
		{"dev", "0.0.0~dev"},
		{"", "0.0.0~unknown"},
		{"Feature/X y", "0.0.0~feature.x.y"},
	}
	script := filepath.Join(repoRoot(t), "packaging/debian/debversion.sh")
	for _, tt := range tests {
		out, err := exec.Command(script, tt.raw).Output()
		if err != nil {
			t.Fatalf("debversion.sh %q: %v", tt.raw, err)
		}
		got := strings.TrimSpace(string(out))
		if got != tt.want {
			t.Errorf("debversion.sh %q = %q, want %q", tt.raw, got, tt.want)
		}
		if out, err := exec.Command("dpkg", "--validate-version", got).CombinedOutput(); err != nil {
			t.Errorf("%q is not a Debian version: %s", got, out)
		}
	}
	// Upgrades go the right way.
	for _, c := range [][2]string{
		{"96aa351", "v0.0.1"}, {"v1.2.3-rc1", "v1.2.3"}, {"v1.2.3", "v1.2.3-4-gabc1234"},
		{"v1.2.3-4-gabc1234", "v1.2.3-4-gabc1234-dirty"}, {"v1.2.3-4-gabc1234", "v1.2.3-5-g0000000"},
	} {
		a, _ := exec.Command(script, c[0]).Output()
		b, _ := exec.Command(script, c[1]).Output()
		va, vb := strings.TrimSpace(string(a)), strings.TrimSpace(string(b))
		if err := exec.Command("dpkg", "--compare-versions", va, "lt", vb).Run(); err != nil {
			t.Errorf("%s (%s) does not sort before %s (%s)", va, c[0], vb, c[1])
		}
	}
}

var (
	debMu    sync.Mutex
	debBuilt = map[string]string{}
)

// buildDeb runs packaging/debian/build.sh as `make deb` does into a temp
// dir shared by the tests, once per version. With binDir it packages those
// binaries (ARS_BIN_DIR) instead of building them.
func buildDeb(t *testing.T, raw, binDir string) string {
	t.Helper()
	requireTool(t, "dpkg-deb", "go")
	debMu.Lock()
	defer debMu.Unlock()
	if p, ok := debBuilt[raw]; ok {
		return p
	}
	out := filepath.Join(os.TempDir(), "ars-deploy-test-deb-"+strconv.Itoa(os.Getpid()))
	cmd := exec.Command(filepath.Join(repoRoot(t), "packaging/debian/build.sh"), raw, out)
	cmd.Env = append(cleanEnv(), "DEB_COMPRESS=gzip")
	if binDir != "" {
		cmd.Env = append(cmd.Env, "ARS_BIN_DIR="+binDir)
	} else {
		buildMu.Lock()
		defer buildMu.Unlock()
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	p := lines[len(lines)-1]
	debBuilt[raw] = p
	debDirs = append(debDirs, out)
	return p
}

var debDirs []string

// debEntry is one member of the package's data archive.
type debEntry struct {
	mode  fs.FileMode
	owner string
}

var wantDeb = map[string]debEntry{
	"./usr/bin/ars":                                          {0o755, "root/root"},
	"./usr/bin/transcoder":                                   {0o755, "root/root"},
	"./usr/bin/ars-mixer":                                    {0o755, "root/root"},
	"./usr/lib/systemd/system/ars.service":                   {0o644, "root/root"},
	"./usr/lib/systemd/system/ars-transcode.service":         {0o644, "root/root"},
	"./usr/lib/systemd/system/ars-transcode.timer":           {0o644, "root/root"},
	"./usr/lib/systemd/system/ars.service.d/ars-socket.conf": {0o644, "root/root"},
	"./usr/lib/ars/ars-socket-unit":                          {0o755, "root/root"},
	"./usr/lib/sysusers.d/ars.conf":                          {0o644, "root/root"},
	"./usr/lib/sysctl.d/60-ars.conf":                         {0o644, "root/root"},
	"./etc/cron.hourly/agora_hourly":                         {0o755, "root/root"},
	"./etc/logrotate.d/ars":                                  {0o644, "root/root"},
	"./etc/ars/":                                             {0o750, "root/root"},
	"./etc/ars/ars.env":                                      {0o640, "root/root"},
	"./usr/share/doc/ars/copyright":                          {0o644, "root/root"},
	"./usr/share/doc/ars/changelog.gz":                       {0o644, "root/root"},
	"./usr/share/doc/ars/install.md":                         {0o644, "root/root"},
	"./usr/share/doc/ars/operations.md":                      {0o644, "root/root"},
	"./usr/share/lintian/overrides/ars":                      {0o644, "root/root"},
}

func TestDebPackage(t *testing.T) {
	t.Parallel()
	deb := buildDeb(t, "v0.9.0-3-gabcdef0", "")
	if got, want := filepath.Base(deb), "ars_0.9.0+git3.gabcdef0_"+debArch(t)+".deb"; got != want {
		t.Fatalf("package %s, want %s", got, want)
	}

	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		name := f[5]
		w, ok := wantDeb[name]
		if !ok {
			if !strings.HasSuffix(name, "/") {
				t.Errorf("unexpected file %s", name)
			}
			continue
		}
		seen[name] = true
		if mode := permOf(t, f[0]); mode != w.mode || f[1] != w.owner {
			t.Errorf("%s: %s %s, want %v %s", name, f[0], f[1], w.mode, w.owner)
		}
	}
	for name := range wantDeb {
		if !seen[name] {
			t.Errorf("package lacks %s", name)
		}
	}

	field := func(name string) string {
		b, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if field("Package") != "ars" || field("Version") != "0.9.0+git3.gabcdef0" || field("Architecture") != debArch(t) {
		t.Errorf("control: %s %s %s", field("Package"), field("Version"), field("Architecture"))
	}

	ctl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v %s", err, out)
	}
	conffiles := strings.Fields(readFile(t, filepath.Join(ctl, "conffiles")))
	for _, c := range []string{"/etc/ars/ars.env", "/etc/cron.hourly/agora_hourly", "/etc/logrotate.d/ars"} {
		if !contains(conffiles, c) {
			t.Errorf("conffiles lacks %s", c)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v %s", s, err, out)
		}
	}

	data := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, data).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v %s", err, out)
	}
	for _, name := range []string{"ars", "transcoder"} {
		arg := "--version"
		if name == "ars" {
			arg = "version"
		}
		out, err := exec.Command(filepath.Join(data, "usr/bin", name), arg).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != name+" 0.9.0+git3.gabcdef0" {
			t.Errorf("%s %s: %v %q", name, arg, err, out)
		}
	}
	verifyUnits(t, filepath.Join(data, "usr/lib/systemd/system"), filepath.Join(data, "usr/bin"), "/usr/bin")
	// An empty ars.env is dev mode's: the package ships no credentials.
	env := parseEnvFile(t, filepath.Join(data, "etc/ars/ars.env"))
	if env["ARS_APP_ID"] != "" || env["ARS_APP_CERTIFICATE"] != "" || env["AGORA_FILE_ROOT"] != "/var/lib/ars/recordings" {
		t.Errorf("packaged ars.env: %v", env)
	}

	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("lintian not installed: skipping its review")
		return
	}
	out, _ = exec.Command("lintian", "--tag-display-limit", "0", deb).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			t.Errorf("lintian: %s", line)
		case strings.HasPrefix(line, "W: "):
			t.Logf("lintian: %s", line)
		}
	}
}

func permOf(t *testing.T, s string) fs.FileMode {
	t.Helper()
	if len(s) != 10 {
		t.Fatalf("mode %q", s)
	}
	var m fs.FileMode
	for i, c := range s[1:] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

func debArch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// dpkg runs dpkg, waiting out the lock another installer may hold.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		cmd := exec.Command("dpkg", args...)
		cmd.Env = append(cleanEnv(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return string(out)
		}
		if strings.Contains(string(out), "lock") && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %v: %v\n%s", args, err, out)
	}
}

func ownerOf(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	name := func(id uint32, lookup func(string) (string, error)) string {
		n, err := lookup(strconv.FormatUint(uint64(id), 10))
		if err != nil {
			return strconv.FormatUint(uint64(id), 10)
		}
		return n
	}
	u := name(st.Uid, func(id string) (string, error) {
		u, err := user.LookupId(id)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	})
	g := name(st.Gid, func(id string) (string, error) {
		g, err := user.LookupGroupId(id)
		if err != nil {
			return "", err
		}
		return g.Name, nil
	})
	return fmt.Sprintf("%s:%s %v", u, g, fi.Mode().Perm())
}

// TestDebInstallUpgradePurge installs the package on this system, upgrades
// it, purges it, installs it over the recordings a purge left, and purges
// again. It runs only as root and only on a system without any trace of
// ars, and leaves none.
func TestDebInstallUpgradePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing a package needs root")
	}
	requireTool(t, "dpkg", "dpkg-query")
	if err := exec.Command("dpkg-query", "-W", "ars").Run(); err == nil {
		t.Skip("an ars package is installed; not touching it")
	}
	if _, err := user.Lookup("ars"); err == nil {
		t.Skip("a user ars exists; not touching it")
	}
	for _, p := range []string{"/etc/ars", "/var/lib/ars", "/usr/bin/ars"} {
		if exists(p) {
			t.Skipf("%s exists; not touching it", p)
		}
	}
	v1 := buildDeb(t, "v0.9.0-3-gabcdef0", "")
	// The upgrade carries deploy.sh's binaries: no second build.
	v2 := buildDeb(t, "v0.9.1", stagedBin(t))
	t.Cleanup(func() {
		_ = exec.Command("dpkg", "-P", "ars").Run()
		_ = os.RemoveAll("/var/lib/ars")
		_ = exec.Command("userdel", "ars").Run()
	})

	out := dpkg(t, "-i", v1)
	t.Logf("dpkg -i:\n%s", out)
	if _, err := user.Lookup("ars"); err != nil {
		t.Fatalf("no user ars after install: %v", err)
	}
	for p, want := range map[string]string{
		"/etc/ars":                "root:ars -rwxr-x---",
		"/etc/ars/ars.env":        "root:ars -rw-r-----",
		"/var/lib/ars":            "ars:ars -rwxr-x---",
		"/var/lib/ars/recordings": "ars:ars -rwxr-x---",
		"/usr/bin/ars":            "root:root -rwxr-xr-x",
	} {
		if got := ownerOf(t, p); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if b, err := exec.Command("/usr/bin/ars", "version").Output(); err != nil || !strings.Contains(string(b), "0.9.0+git3") {
		t.Errorf("installed ars version: %v %q", err, b)
	}

	// The operator configures; a recording exists.
	c := newCreds(t)
	env := "/etc/ars/ars.env"
	conf := strings.Replace(readFile(t, env), "ARS_APP_ID=\n", "ARS_APP_ID="+c.appID+"\n", 1)
	conf = strings.Replace(conf, "ARS_APP_CERTIFICATE=\n", "ARS_APP_CERTIFICATE="+c.cert+"\n", 1)
	if err := os.WriteFile(env, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	recording := "/var/lib/ars/recordings/2026_01_02/demo_101500/7_101500.tmp"
	writeFile(t, recording, "capture bytes")
	if err := exec.Command("chown", "-R", "ars:ars", "/var/lib/ars/recordings/2026_01_02").Run(); err != nil {
		t.Fatal(err)
	}

	dpkg(t, "-i", v2)
	if b, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "ars").Output(); string(b) != "0.9.1" {
		t.Errorf("after upgrade: package version %q", b)
	}
	if got := parseEnvFile(t, env); got["ARS_APP_CERTIFICATE"] != c.cert || got["ARS_APP_ID"] != c.appID {
		t.Error("upgrade lost the configuration")
	}
	if got := ownerOf(t, env); got != "root:ars -rw-r-----" {
		t.Errorf("ars.env after upgrade: %s", got)
	}

	dpkg(t, "-P", "ars")
	for _, p := range []string{"/etc/ars", "/usr/bin/ars", "/usr/bin/transcoder", "/usr/lib/systemd/system/ars.service",
		"/etc/cron.hourly/agora_hourly", "/etc/logrotate.d/ars"} {
		if exists(p) {
			t.Errorf("%s left after purge", p)
		}
	}
	if _, err := user.Lookup("ars"); err == nil {
		t.Error("user ars left after purge")
	}
	if readFile(t, recording) != "capture bytes" {
		t.Fatal("purge touched a recording")
	}

	// Installing again hands the orphaned recordings to the new user.
	dpkg(t, "-i", v2)
	if got := ownerOf(t, recording); got != "ars:ars -rw-r--r--" {
		t.Errorf("recording after reinstall: %s", got)
	}
	dpkg(t, "-P", "ars")
	if readFile(t, recording) != "capture bytes" {
		t.Fatal("second purge touched a recording")
	}
}
