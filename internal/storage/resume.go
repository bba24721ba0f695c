package storage

import (
	"os"
	"path/filepath"
	"strings"
)

// IsActive reports whether dir is marked as a recording being written.
func IsActive(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, activeMarker))
	return err == nil
}

// Contains reports whether dir is a recording directory of the layout
// (root/yyyy_mm_dd/Channel_HHMMSS): a path read back from the state store
// is checked before the daemon writes into it again.
func (l Layout) Contains(dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(l.Root), filepath.Clean(dir))
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 2 {
		return false
	}
	fi, err := os.Lstat(dir)
	return err == nil && fi.IsDir()
}
