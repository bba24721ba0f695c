package batch

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCaptureName feeds arbitrary file names (they come from whatever is
// in the recording root) to the name checks: a name taken as a capture
// must map to outputs beside it that differ from it and from each other.
func FuzzCaptureName(f *testing.F) {
	for _, s := range []string{"42_100000.tmp", "42_100000_2.tmp", "4294967295_235959.tmp", ".tmp", "a.tmp",
		"42_100000.tmp.tmp", "42_1000000.tmp", "42_100000.mp4", "../1_000000.tmp", "1_000000.tmp\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !IsCaptureName(name) {
			return
		}
		if strings.ContainsAny(name, "/\x00\n") || !strings.HasSuffix(name, ".tmp") {
			t.Fatalf("accepted %q", name)
		}
		src := filepath.Join("/root/2026_01_01/ch_000000", name)
		mp4, tmp, ok := outputPaths(src)
		if !ok || mp4 == src || tmp == src || mp4 == tmp {
			t.Fatalf("%q -> %q %q %v", src, mp4, tmp, ok)
		}
		if filepath.Dir(mp4) != filepath.Dir(src) || filepath.Dir(tmp) != filepath.Dir(src) {
			t.Fatalf("outputs leave the directory: %q %q", mp4, tmp)
		}
	})
}
