package batch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ars-project/ars/internal/storage"
)

func TestTranscodingLock(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "1_100000.transcoding")
	mp4 := filepath.Join(dir, "1_100000.mp4")

	// A leftover from a crash is taken over and emptied.
	if err := os.WriteFile(tmp, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := lockTranscoding(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tmp); fi.Size() != 0 || fi.Mode().Perm() != storage.FileMode {
		t.Fatalf("leftover not reset: size %d mode %v", fi.Size(), fi.Mode().Perm())
	}
	// While held, a second converter is turned away and truncates nothing.
	if _, err := a.f.WriteString("converted bytes"); err != nil {
		t.Fatal(err)
	}
	if _, err := lockTranscoding(tmp); !errors.Is(err, errBusy) {
		t.Fatalf("second lock: %v", err)
	}
	// A converter that opened the file before the holder renamed it
	// must notice, or it would truncate the finished MP4.
	late, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.commit(mp4); err != nil {
		t.Fatal(err)
	}
	a.release()
	if _, err := lockOpened(late, tmp); !errors.Is(err, errMoved) {
		t.Fatalf("lock of a renamed file: %v", err)
	}
	if b, _ := os.ReadFile(mp4); string(b) != "converted bytes" {
		t.Fatalf("mp4 holds %q", b)
	}
	mustNotExist(t, tmp)

	// commit never replaces an MP4 that appeared meanwhile.
	c, err := lockTranscoding(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	if err := c.commit(mp4); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("commit over an existing mp4: %v", err)
	}
	c.discard()
	mustNotExist(t, tmp)
	if b, _ := os.ReadFile(mp4); string(b) != "converted bytes" {
		t.Fatalf("mp4 replaced: %q", b)
	}
}

// A converter that replaces its output file instead of writing it in place
// would escape the lock: commit refuses the result.
func TestCommitRefusesReplacedFile(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "1_100000.transcoding")
	l, err := lockTranscoding(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("someone else's"), storage.FileMode); err != nil {
		t.Fatal(err)
	}
	if err := l.commit(filepath.Join(dir, "1_100000.mp4")); !errors.Is(err, ErrReplaced) {
		t.Fatalf("commit: %v", err)
	}
	l.discard() // not ours: must stay
	if b, _ := os.ReadFile(tmp); string(b) != "someone else's" {
		t.Fatalf("discard removed a file it did not own")
	}
}
