package testfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Mount mounts a tmpfs at dir (created if missing) with the given mount
// options (for example "size=8m,mode=0750") and unmounts it when the test
// ends. The test is skipped when not root or when mounting is refused.
func Mount(t testing.TB, dir, options string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (no CAP_SYS_ADMIN here?): %v %s", err, out)
	}
	t.Cleanup(func() {
		// Cleanups registered later (a daemon, open files) run first;
		// retry briefly in case a child process lingers.
		for range 50 {
			if err := syscall.Unmount(dir, 0); err == nil || errors.Is(err, syscall.EINVAL) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not unmount %s", dir)
	})
}

// Small returns a fresh temporary directory with a tmpfs of options
// mounted on it.
func Small(t testing.TB, options string) string {
	t.Helper()
	dir := t.TempDir()
	Mount(t, dir, options)
	return dir
}

// Fill writes dir/filler until the filesystem is full, down to the last
// byte, and returns its path: removing it gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for n := len(chunk); n > 0; {
		if _, err := f.Write(chunk[:n]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			n /= 2
		}
	}
	return path
}
