package testfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFillThenFree: a filled tmpfs refuses even one byte with ENOSPC, and
// removing the filler gives the space back.
func TestFillThenFree(t *testing.T) {
	dir := Small(t, "size=256k")
	filler := Fill(t, dir)
	err := os.WriteFile(filepath.Join(dir, "one"), []byte{1}, 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full tmpfs: %v, want ENOSPC", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "one"), make([]byte, 64<<10), 0o600); err != nil {
		t.Fatalf("write after freeing: %v", err)
	}
}
