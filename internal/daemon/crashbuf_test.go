package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCaptureBufferDir(t *testing.T) {
	rt := t.TempDir()
	explicit := filepath.Join(t.TempDir(), "bufs")
	for _, tc := range []struct {
		name, setting, runtimeDir, want string
	}{
		{"off", "off", rt, ""},
		{"explicit", explicit, rt, explicit},
		{"systemd runtime directory", "", rt + ":/run/other", filepath.Join(rt, "capture-buffers")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RUNTIME_DIRECTORY", tc.runtimeDir)
			got, err := captureBufferDir(tc.setting, t.TempDir())
			if err != nil || got != tc.want {
				t.Fatalf("captureBufferDir = %q, %v; want %q", got, err, tc.want)
			}
			if got == "" {
				return
			}
			fi, err := os.Stat(got)
			if err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("buffer directory %s: %v %v, want mode 0700", got, fi.Mode(), err)
			}
		})
	}
	t.Run("shared memory, one per state directory", func(t *testing.T) {
		if _, err := os.Stat("/dev/shm"); err != nil {
			t.Skip("no /dev/shm")
		}
		t.Setenv("RUNTIME_DIRECTORY", "")
		a, err := captureBufferDir("", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(a) })
		b, err := captureBufferDir("", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(b) })
		if a == b || !strings.HasPrefix(a, "/dev/shm/ars-") || !onTmpfs(a) {
			t.Fatalf("two state directories got %q and %q", a, b)
		}
	})
}
