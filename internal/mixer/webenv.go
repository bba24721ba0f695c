package mixer

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
)

// webEnv is the page's private world: an X server, a sound server and the
// browser, all children of this process (its process group, each with
// Pdeathsig, so the daemon's kill of the group or this process's death
// ends them), with HOME, XDG_RUNTIME_DIR, the profile and the sockets in
// one temporary directory removed at close.
type webEnv struct {
	log     *slog.Logger
	dir     string
	display string
	pulse   string // the PulseAudio socket
	sink    string
	procs   []*exec.Cmd // started order; stopped in reverse
	chrome  *exec.Cmd
}

// sinkName is the null sink the page plays into; pulsesrc records its
// monitor.
const sinkName = "ars_page"

func newWebEnv(log *slog.Logger) (*webEnv, error) {
	// The name carries our pid: a supervisor whose recorder was killed
	// (no chance to clean up) removes ars-web-<pid>-* itself.
	dir, err := os.MkdirTemp("", fmt.Sprintf("ars-web-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebEnv, err)
	}
	e := &webEnv{log: log, dir: dir, sink: sinkName}
	for _, d := range []string{"home", "run", "profile"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			e.close()
			return nil, fmt.Errorf("%w: %v", ErrWebEnv, err)
		}
	}
	return e, nil
}

// env is the environment of every child: nothing of ours but PATH.
func (e *webEnv) env(extra ...string) []string {
	return append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + filepath.Join(e.dir, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(e.dir, "run"), "XDG_CONFIG_HOME=" + filepath.Join(e.dir, "home", ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(e.dir, "home", ".cache"), "LANG=C.UTF-8"}, extra...)
}

func (e *webEnv) start(name string, cmd *exec.Cmd) error {
	cmd.Env = append(e.env(), cmd.Env...)
	cmd.Dir = e.dir
	cmd.Stdout = nil
	cmd.Stderr = &lineLog{log: e.log, name: name}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrWebEnv, name, err)
	}
	e.procs = append(e.procs, cmd)
	return nil
}

// startX starts Xvfb on a display number it picks itself (-displayfd).
func (e *webEnv) startX(w, h int) error {
	r, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", w, h),
		"-nolisten", "tcp", "-noreset", "-nocursor")
	cmd.ExtraFiles = []*os.File{wr}
	err = e.start("Xvfb", cmd)
	wr.Close()
	if err != nil {
		return err
	}
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			return fmt.Errorf("%w: Xvfb gave no display number (%q)", ErrWebEnv, n)
		}
		e.display = ":" + n
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%w: Xvfb did not start within 10 s", ErrWebEnv)
	}
}

// startPulse starts a PulseAudio of our own: no default script (-n), one
// null sink, one socket with anonymous access in our directory.
func (e *webEnv) startPulse() error {
	e.pulse = filepath.Join(e.dir, "run", "pulse.sock")
	cmd := exec.Command("pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
		"--disallow-exit", "--disallow-module-loading", "--log-target=stderr", "--system=false",
		"--load=module-null-sink sink_name="+e.sink+" rate=48000 channels=2",
		"--load=module-native-protocol-unix auth-anonymous=1 socket="+e.pulse)
	if err := e.start("pulseaudio", cmd); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(e.pulse); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: pulseaudio did not open its socket within 10 s", ErrWebEnv)
}

// startChromium starts Debian's Chromium headed on our display, its sound
// into our sink, every connection through proxy. Limits: the JS heap
// (--js-flags), one renderer, no core dumps, 4096 files (prlimit), nice
// 10 so the encoder wins the CPU, and the tree's memory (watchMemory).
func (e *webEnv) startChromium(c *mixproto.WebConfig, proxy string) error {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWebEnv, err)
	}
	args := []string{"--core=0", "--nofile=4096", "--", "nice", "-n", "10", bin,
		"--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-breakpad", "--disable-extensions", "--disable-default-apps", "--password-store=basic",
		"--disable-dev-shm-usage", "--disable-features=Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints",
		"--noerrdialogs", "--disable-infobars", "--hide-scrollbars", "--disable-session-crashed-bubble",
		"--autoplay-policy=no-user-gesture-required", "--kiosk", "--window-position=0,0",
		fmt.Sprintf("--window-size=%d,%d", c.Width, c.Height),
		"--user-data-dir=" + filepath.Join(e.dir, "profile"),
		"--proxy-server=http://" + proxy, "--proxy-bypass-list=<-loopback>", "--disable-quic",
		"--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--webrtc-ip-handling-policy=disable_non_proxied_udp",
		"--renderer-process-limit=1", fmt.Sprintf("--js-flags=--max-old-space-size=%d", max(c.MemoryLimit()>>21, 64)),
		c.URL}
	cmd := exec.Command("prlimit", args...)
	cmd.Env = []string{"DISPLAY=" + e.display, "PULSE_SERVER=unix:" + e.pulse, "PULSE_SINK=" + e.sink}
	if err := e.start("chromium", cmd); err != nil {
		return err
	}
	e.chrome = cmd
	return nil
}

// treePSS is the proportional set size of pid and its descendants, in
// bytes: Chromium's processes share most of their pages, which a sum of
// RSS would count once per process.
func treePSS(pid int) int64 {
	var total int64
	for _, p := range descendants(pid, true) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Pss:" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				total += n << 10
				break
			}
		}
	}
	return total
}

// descendants lists pid's descendants (and pid itself when self), from
// /proc's parent links.
func descendants(pid int, self bool) []int {
	ents, _ := os.ReadDir("/proc")
	kids := map[int][]int{}
	for _, d := range ents {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent is the second field after the parenthesised name.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 {
				pp, _ := strconv.Atoi(f[1])
				kids[pp] = append(kids[pp], p)
			}
		}
	}
	var out []int
	if self {
		out = append(out, pid)
	}
	for q := []int{pid}; len(q) > 0; {
		p := q[0]
		q = q[1:]
		out = append(out, kids[p]...)
		q = append(q, kids[p]...)
	}
	return out
}

// watchMemory fails (calls fail) when the browser tree's PSS passes
// limit, or when the browser has exited.
func (e *webEnv) watchMemory(ctx context.Context, limit int64, fail func(error)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if e.chrome == nil || e.chrome.Process == nil {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.chrome.Process.Pid)); err != nil || strings.Contains(string(b), ") Z ") {
			fail(ErrWebBrowserExited)
			return
		}
		if pss := treePSS(e.chrome.Process.Pid); pss > limit {
			fail(fmt.Errorf("%w: the page uses %d MiB (PSS; limit %d MiB)", ErrWebMemory, pss>>20, limit>>20))
			return
		}
	}
}

// close stops the browser, the sound and the X server (SIGTERM, then
// SIGKILL after 2 s), kills whatever they left (a browser's zygote or
// renderer reparented to us), and removes the directory.
func (e *webEnv) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		cmd := e.procs[i]
		left := descendants(cmd.Process.Pid, false)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		for _, p := range left {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	// Orphans of the browser are re-parented to init, not to us, unless
	// we are a subreaper: sweep our own descendants too.
	for _, p := range descendants(os.Getpid(), false) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.log.Warn("web recorder directory not removed", "dir", e.dir, "error", err)
	}
}

// lineLog logs a child's stderr line by line (bounded, debug level: the
// browser is chatty).
type lineLog struct {
	log  *slog.Logger
	name string
	buf  []byte
}

func (l *lineLog) Write(b []byte) (int, error) {
	n := len(b)
	l.buf = append(l.buf, b...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.log.Debug(l.name, "line", string(l.buf[:min(i, 2048)]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 {
		l.buf = l.buf[:0]
	}
	return n, nil
}
