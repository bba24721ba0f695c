package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the command once and runs it the way cron does: no
// terminal, judged by exit status, files and log.
func TestBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "transcoder")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	exitOf := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}

	t.Run("converts", func(t *testing.T) {
		root := t.TempDir()
		src := writeCapture(t, root, "room", "1_100000.tmp")
		cmd := exec.Command(bin, "--root", root)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if code := exitOf(cmd.Run()); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", mp4Of(src), "-f", "null", "-").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("ffmpeg decode: %v\n%s", err, out)
		}
		checkMP4(t, mp4Of(src))
		if lines := errorLines(stderr.String()); len(lines) > 0 {
			t.Errorf("error lines on success: %q", lines)
		}
	})

	t.Run("failure exits 1", func(t *testing.T) {
		root := t.TempDir()
		writeGarbage(t, root, "room", "1_100000.tmp")
		logFile := filepath.Join(t.TempDir(), "agora_hourly.log")
		cmd := exec.Command(bin, "--root", root, "--log", logFile)
		if code := exitOf(cmd.Run()); code != 1 {
			t.Fatalf("exit %d", code)
		}
		out, err := exec.Command("grep", "error", logFile).Output()
		if err != nil || !strings.Contains(string(out), "1_100000.tmp") {
			t.Fatalf("grep error: %v %q", err, out)
		}
		fi, err := os.Stat(logFile)
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("log file mode: %v %v", fi.Mode().Perm(), err)
		}
	})

	t.Run("usage exits 2", func(t *testing.T) {
		if code := exitOf(exec.Command(bin, "--workers", "x").Run()); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})

	// SIGTERM stops a scheduled transcoder cleanly.
	t.Run("sigterm", func(t *testing.T) {
		cmd := exec.Command(bin, "--root", t.TempDir(), "--schedule", "@hourly")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.Contains(sc.Text(), "msg=scheduled") {
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for sc.Scan() { // Wait only after the pipe is drained
			}
			done <- cmd.Wait()
		}()
		select {
		case err := <-done:
			if code := exitOf(err); code != 0 {
				t.Fatalf("exit %d after SIGTERM", code)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("still running 30s after SIGTERM")
		}
	})
}
