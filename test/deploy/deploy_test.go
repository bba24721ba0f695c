package deploy

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wantInstalled is every path a staged deploy (--path=/srv/ars/recordings,
// default --prefix) installs, with its mode and intended owner.
var wantInstalled = map[string]manifestEntry{
	"/usr/local/bin/ars":                                         {"f", 0o755, "root:root"},
	"/usr/local/bin/transcoder":                                  {"f", 0o755, "root:root"},
	"/usr/local/bin/ars-mixer":                                   {"f", 0o755, "root:root"},
	"/etc/ars":                                                   {"d", 0o750, "root:ars"},
	"/etc/ars/ars.env":                                           {"f", 0o640, "root:ars"},
	"/etc/ars/deploy-manifest":                                   {"f", 0o640, "root:ars"},
	"/var/lib/ars":                                               {"d", 0o750, "ars:ars"},
	"/srv/ars/recordings":                                        {"d", 0o750, "ars:ars"},
	"/etc/systemd/system/ars.service":                            {"f", 0o644, "root:root"},
	"/etc/systemd/system/ars-transcode.service":                  {"f", 0o644, "root:root"},
	"/etc/systemd/system/ars-transcode.timer":                    {"f", 0o644, "root:root"},
	"/etc/systemd/system/ars.socket":                             {"f", 0o644, "root:root"},
	"/etc/systemd/system/ars.service.d/10-deploy.conf":           {"f", 0o644, "root:root"},
	"/etc/systemd/system/ars-transcode.service.d/10-deploy.conf": {"f", 0o644, "root:root"},
	"/etc/cron.hourly/agora_hourly":                              {"f", 0o755, "root:root"},
	"/etc/logrotate.d/ars":                                       {"f", 0o644, "root:root"},
	"/etc/sysctl.d/60-ars.conf":                                  {"f", 0o644, "root:root"},
	"/usr/local/share/doc/ars/install.md":                        {"f", 0o644, "root:root"},
	"/usr/local/share/doc/ars/operations.md":                     {"f", 0o644, "root:root"},
}

// checkStaged compares a staged tree with its manifest and with want.
func checkStaged(t *testing.T, destdir string, want map[string]manifestEntry) {
	t.Helper()
	got := readManifest(t, destdir)
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("manifest lacks %s", p)
			continue
		}
		if g != w {
			t.Errorf("manifest %s = %+v, want %+v", p, g, w)
		}
	}
	for p, e := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("manifest lists unexpected %s", p)
		}
		fi, err := os.Stat(filepath.Join(destdir, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if (e.typ == "d") != fi.IsDir() {
			t.Errorf("%s: is dir %v, manifest type %s", p, fi.IsDir(), e.typ)
		}
		if fi.Mode().Perm() != e.mode {
			t.Errorf("%s: mode %v, manifest %v", p, fi.Mode().Perm(), e.mode)
		}
	}
	// Nothing lies around that the manifest does not account for (such as
	// a leftover .deploy-new from an interrupted rename).
	err := filepath.WalkDir(destdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := "/" + strings.TrimPrefix(p, destdir+"/")
		if _, ok := got[rel]; !ok && !strings.HasPrefix(rel, "/srv/ars/recordings/") {
			t.Errorf("stray file %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeployStaging(t *testing.T) {
	destdir, c, p, r := sourceStage(t)
	if !strings.HasSuffix(strings.TrimSpace(r.out), "deploy successfully") {
		t.Fatalf("output does not end in 'deploy successfully':\n%s", r.out)
	}
	checkStaged(t, destdir, wantInstalled)

	env := parseEnvFile(t, filepath.Join(destdir, "etc/ars/ars.env"))
	for k, v := range map[string]string{
		"ARS_APP_ID": c.appID, "ARS_APP_CERTIFICATE": c.cert, "AGORA_FILE_ROOT": "/srv/ars/recordings",
		"PORT": strconv.Itoa(p.http), "ARS_RTP_PORTS": fmt.Sprintf("%d-%d", p.rtpFirst, p.rtpLast),
		"ARS_WEBRTC_PORT": strconv.Itoa(p.webrtc),
	} {
		if env[k] != v {
			t.Errorf("ars.env %s=%q, want %q", k, env[k], v)
		}
	}

	// The certificate: in ars.env (0640, in a 0750 directory) and nowhere
	// else, not even in deploy's output.
	if hits := filesContaining(t, destdir, c.cert); !slices.Equal(hits, []string{"/etc/ars/ars.env"}) {
		t.Errorf("certificate found in %v, want only /etc/ars/ars.env", hits)
	}
	if strings.Contains(r.out, c.cert) {
		t.Error("deploy.sh printed the certificate")
	}
	for _, p := range []string{"etc/ars/ars.env", "etc/ars"} {
		fi, err := os.Stat(filepath.Join(destdir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s is world-accessible: %v", p, fi.Mode().Perm())
		}
	}

	// Staged files point at the staged programs and the chosen root.
	bin := filepath.Join(destdir, "usr/local/bin")
	for _, name := range []string{"ars", "transcoder"} {
		out, err := exec.Command(filepath.Join(bin, name), "--version").CombinedOutput()
		if name == "ars" {
			out, err = exec.Command(filepath.Join(bin, name), "version").CombinedOutput()
		}
		if err != nil || !strings.HasPrefix(string(out), name+" ") {
			t.Errorf("%s version: %v %q", name, err, out)
		}
	}
	unit := readFile(t, filepath.Join(destdir, "etc/systemd/system/ars.service"))
	if !strings.Contains(unit, "\nExecStart=/usr/local/bin/ars serve\n") {
		t.Errorf("ars.service ExecStart does not run /usr/local/bin/ars:\n%s", unit)
	}
	tunit := readFile(t, filepath.Join(destdir, "etc/systemd/system/ars-transcode.service"))
	if !strings.Contains(tunit, " /usr/local/bin/transcoder --once\n") {
		t.Errorf("ars-transcode.service does not run /usr/local/bin/transcoder:\n%s", tunit)
	}
	for _, u := range []string{"ars.service", "ars-transcode.service"} {
		dropin := readFile(t, filepath.Join(destdir, "etc/systemd/system", u+".d/10-deploy.conf"))
		if !strings.Contains(dropin, "[Service]\nReadWritePaths=/srv/ars/recordings\n") {
			t.Errorf("%s drop-in:\n%s", u, dropin)
		}
	}
	// ars.socket holds exactly the RTP ports, and the service needs it.
	sock := readFile(t, filepath.Join(destdir, "etc/systemd/system/ars.socket"))
	var listens []string
	for _, line := range strings.Split(sock, "\n") {
		if v, ok := strings.CutPrefix(line, "ListenDatagram="); ok {
			listens = append(listens, v)
		}
	}
	var want []string
	for port := p.rtpFirst; port <= p.rtpLast; port++ {
		want = append(want, strconv.Itoa(port))
	}
	if !slices.Equal(listens, want) || !strings.Contains(sock, "\nService=ars.service\n") {
		t.Errorf("ars.socket listens on %v, want %v:\n%s", listens, want, sock)
	}
	if dropin := readFile(t, filepath.Join(destdir, "etc/systemd/system/ars.service.d/10-deploy.conf")); !strings.Contains(dropin, "\nRequires=ars.socket\nAfter=ars.socket\n") {
		t.Errorf("ars.service drop-in does not require ars.socket:\n%s", dropin)
	}
	cron := filepath.Join(destdir, "etc/cron.hourly/agora_hourly")
	if !strings.Contains(readFile(t, cron), ":-/usr/local/bin/transcoder}") {
		t.Error("cron job does not run /usr/local/bin/transcoder")
	}
	if out, err := exec.Command("sh", "-n", cron).CombinedOutput(); err != nil {
		t.Errorf("sh -n agora_hourly: %v %s", err, out)
	}
	// run-parts runs only names without dots: it must list the job.
	if _, err := exec.LookPath("run-parts"); err == nil {
		out, err := exec.Command("run-parts", "--test", filepath.Dir(cron)).Output()
		if err != nil || strings.TrimSpace(string(out)) != cron {
			t.Errorf("run-parts --test: %v %q, want %s", err, out, cron)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeployHelp(t *testing.T) {
	t.Parallel()
	r := runDeploy(t, nil, "--help")
	if r.code != 0 {
		t.Fatalf("--help exit %d", r.code)
	}
	for _, opt := range []string{"--key", "--sign", "--sign-file", "--port", "--path", "--destdir", "--uninstall", "ARS_APP_CERTIFICATE"} {
		if !strings.Contains(r.out, opt) {
			t.Errorf("--help does not mention %s", opt)
		}
	}
}

// TestDeployCertificateSources: the three ways to give the certificate end
// in the same ars.env.
func TestDeployCertificateSources(t *testing.T) {
	t.Parallel()
	bin := stagedBin(t)
	tests := []struct {
		name string
		args func(c creds, dir string) []string
		env  func(c creds) []string
	}{
		{"--sign=CERT", func(c creds, _ string) []string { return []string{"--sign=" + c.cert} }, nil},
		{"--sign CERT", func(c creds, _ string) []string { return []string{"--sign", c.cert} }, nil},
		{"--sign-file", func(c creds, dir string) []string {
			p := filepath.Join(dir, "cert")
			if err := os.WriteFile(p, []byte(c.cert+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--sign-file=" + p}
		}, nil},
		{"ARS_APP_CERTIFICATE", func(creds, string) []string { return nil },
			func(c creds) []string { return []string{"ARS_APP_CERTIFICATE=" + c.cert} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCreds(t)
			dir := t.TempDir()
			destdir := filepath.Join(dir, "root")
			args := append([]string{"--key", c.appID, "--destdir", destdir, "--bin-dir", bin}, freePorts(t).args()...)
			args = append(args, tt.args(c, dir)...)
			var env []string
			if tt.env != nil {
				env = tt.env(c)
			}
			r := runDeploy(t, env, args...)
			mustSucceed(t, r)
			got := parseEnvFile(t, filepath.Join(destdir, "etc/ars/ars.env"))
			if got["ARS_APP_CERTIFICATE"] != c.cert || got["ARS_APP_ID"] != c.appID {
				t.Fatalf("ars.env credentials %q %q", got["ARS_APP_ID"], got["ARS_APP_CERTIFICATE"])
			}
			if strings.Contains(r.out, c.cert) {
				t.Fatal("deploy.sh printed the certificate")
			}
		})
	}
}

// TestDeployRefuses: every refusal names its reason, exits non-zero and
// installs nothing.
func TestDeployRefuses(t *testing.T) {
	t.Parallel()
	bin := stagedBin(t)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() }) // parallel subtests outlive this function
	tcpPort := strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port

	c := newCreds(t)
	free := freePorts(t)
	inside := strconv.Itoa(free.rtpFirst)
	tests := []struct {
		name  string
		args  []string
		setup func(t *testing.T, destdir string)
		want  string
	}{
		{"TCP port taken", []string{"--port=" + tcpPort}, nil, "port " + tcpPort + "/tcp is in use"},
		{"RTP port taken", []string{"--rtp-ports=" + strconv.Itoa(udpPort-1) + "-" + strconv.Itoa(udpPort+1)}, nil,
			"port " + strconv.Itoa(udpPort) + "/udp is in use"},
		{"WebRTC port taken", []string{"--webrtc-port=" + strconv.Itoa(udpPort)}, nil,
			"port " + strconv.Itoa(udpPort) + "/udp is in use"},
		{"path is a file", []string{"--path=/srv/rec"}, func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "srv/rec"), "x")
		}, "--path /srv/rec exists and is not a directory"},
		{"path under a file", []string{"--path=/srv/rec/inner"}, func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "srv/rec"), "x")
		}, "--path /srv/rec/inner cannot be created"},
		{"relative path", []string{"--path=recordings"}, nil, "--path must be an absolute directory path"},
		{"path with a space", []string{"--path=/srv/my recordings"}, nil, "--path must be an absolute directory path"},
		{"bad key", []string{"--key=nothex"}, nil, "--key must be 32 hexadecimal characters"},
		{"bad certificate", []string{"--sign=5cfd"}, nil, "the app certificate must be 32 hexadecimal characters"},
		{"no key on first install", []string{"--key="}, nil, "--key (the Agora app ID) is required"},
		{"two certificate sources", []string{"--sign-file=/dev/null"}, nil, "give the certificate once"},
		{"WebRTC port inside RTP range", []string{"--webrtc-port=" + inside}, nil, "--webrtc-port " + inside + " lies inside --rtp-ports"},
		{"unknown option", []string{"--colour=blue"}, nil, "unknown option --colour"},
		{"purge without uninstall", []string{"--purge"}, nil, "--purge goes with --uninstall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			destdir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, destdir)
			}
			args := append([]string{"--key=" + c.appID, "--sign=" + c.cert, "--destdir=" + destdir, "--bin-dir=" + bin},
				free.args()...)
			args = append(args, tt.args...)
			r := runDeploy(t, nil, args...)
			if r.code == 0 {
				t.Fatalf("deploy.sh succeeded:\n%s", r.out)
			}
			if !strings.Contains(r.out, "deploy failed: "+tt.want) {
				t.Fatalf("output lacks %q:\n%s", "deploy failed: "+tt.want, r.out)
			}
			if strings.Contains(r.out, "deploy successfully") {
				t.Fatalf("output claims success:\n%s", r.out)
			}
			if _, err := os.Stat(filepath.Join(destdir, "etc/ars/ars.env")); err == nil {
				t.Fatal("a refused deploy wrote ars.env")
			}
			if strings.Contains(r.out, c.cert) {
				t.Fatal("deploy.sh printed the certificate")
			}
		})
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeployRequiresRoot: without --destdir deploy.sh changes the real
// system, so it refuses an unprivileged user before touching anything.
func TestDeployRequiresRoot(t *testing.T) {
	t.Parallel()
	script := deployScript(t)
	c := newCreds(t)
	args := []string{"--key=" + c.appID, "--sign=" + c.cert}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		requireTool(t, "setpriv")
		// nobody (every Debian system has it) may not reach the checkout,
		// say under /root: it runs a copy; the root check comes first.
		dir, err := os.MkdirTemp("", "ars-deploy-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(dir, "deploy.sh")
		writeFile(t, copied, readFile(t, script))
		if err := os.Chmod(copied, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", copied}, args...)...)
		cmd.Dir = dir
	} else {
		cmd = exec.Command(script, args...)
	}
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("deploy.sh as non-root succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "deploy failed: must be run as root") {
		t.Fatalf("output:\n%s", out)
	}
}

// TestDeployUpgrade: running deploy.sh again keeps the configuration (also
// lines an operator added), the certificate unless a new one is given, and
// every recording.
func TestDeployUpgrade(t *testing.T) {
	t.Parallel()
	bin := stagedBin(t)
	c := newCreds(t)
	destdir := t.TempDir()
	mustSucceed(t, runDeploy(t, nil, append([]string{"--key=" + c.appID, "--sign=" + c.cert, "--destdir=" + destdir,
		"--bin-dir=" + bin, "--path=/srv/ars/recordings"}, freePorts(t).args()...)...))
	envPath := filepath.Join(destdir, "etc/ars/ars.env")
	f, err := os.OpenFile(envPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("# added by the operator\nARS_LOG_LEVEL=debug\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	recording := filepath.Join(destdir, "srv/ars/recordings/2026_01_02/demo_101500/7_101500.tmp")
	writeFile(t, recording, "capture bytes")

	// No credentials, a new port: an upgrade.
	newPort := strconv.Itoa(freeTCPPort(t))
	r := runDeploy(t, nil, "--destdir="+destdir, "--bin-dir="+bin, "--port="+newPort)
	mustSucceed(t, r)
	env := parseEnvFile(t, envPath)
	if env["ARS_APP_ID"] != c.appID || env["ARS_APP_CERTIFICATE"] != c.cert || env["PORT"] != newPort ||
		env["ARS_LOG_LEVEL"] != "debug" || env["AGORA_FILE_ROOT"] != "/srv/ars/recordings" {
		t.Fatalf("ars.env after upgrade: %v", env)
	}
	if !strings.Contains(readFile(t, envPath), "# added by the operator\n") {
		t.Fatal("upgrade dropped the operator's comment")
	}
	if readFile(t, recording) != "capture bytes" {
		t.Fatal("upgrade changed a recording")
	}
	checkStaged(t, destdir, withRoot(wantInstalled, "/srv/ars/recordings"))

	// A new certificate replaces the old one everywhere.
	c2 := newCreds(t)
	mustSucceed(t, runDeploy(t, []string{"ARS_APP_CERTIFICATE=" + c2.cert}, "--destdir="+destdir, "--bin-dir="+bin))
	env = parseEnvFile(t, envPath)
	if env["ARS_APP_CERTIFICATE"] != c2.cert || env["ARS_APP_ID"] != c.appID {
		t.Fatalf("certificate not replaced: %v", env)
	}
	if hits := filesContaining(t, destdir, c.cert); len(hits) != 0 {
		t.Fatalf("old certificate still in %v", hits)
	}
	if n := strings.Count(readFile(t, envPath), "ARS_APP_CERTIFICATE="); n != 1 {
		t.Fatalf("ars.env has %d certificate lines", n)
	}
}

func withRoot(m map[string]manifestEntry, root string) map[string]manifestEntry {
	out := map[string]manifestEntry{}
	for k, v := range m {
		if k == "/srv/ars/recordings" {
			k = root
		}
		out[k] = v
	}
	return out
}

// TestDeployUninstall: --uninstall keeps ars.env and recordings; --purge
// also removes the configuration; neither touches a recording.
func TestDeployUninstall(t *testing.T) {
	t.Parallel()
	bin := stagedBin(t)
	for _, purge := range []bool{false, true} {
		t.Run("purge="+strconv.FormatBool(purge), func(t *testing.T) {
			t.Parallel()
			c := newCreds(t)
			destdir := t.TempDir()
			mustSucceed(t, runDeploy(t, nil, append([]string{"--key=" + c.appID, "--sign=" + c.cert,
				"--destdir=" + destdir, "--bin-dir=" + bin, "--path=/srv/rec"}, freePorts(t).args()...)...))
			recording := filepath.Join(destdir, "srv/rec/2026_01_02/demo_101500/7_101500.tmp")
			writeFile(t, recording, "capture bytes")
			args := []string{"--uninstall", "--destdir=" + destdir}
			if purge {
				args = append(args, "--purge")
			}
			r := runDeploy(t, nil, args...)
			if r.code != 0 || !strings.Contains(r.out, "uninstall successfully") {
				t.Fatalf("uninstall exit %d:\n%s", r.code, r.out)
			}
			for p := range withRoot(wantInstalled, "/srv/rec") {
				keep := p == "/srv/rec" || p == "/var/lib/ars" || (!purge && (p == "/etc/ars" || p == "/etc/ars/ars.env"))
				if got := exists(filepath.Join(destdir, p)); got != keep {
					t.Errorf("%s exists=%v after uninstall, want %v", p, got, keep)
				}
			}
			if readFile(t, recording) != "capture bytes" {
				t.Fatal("uninstall changed a recording")
			}
		})
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
