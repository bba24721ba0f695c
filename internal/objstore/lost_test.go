package objstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testfs"
)

// TestUploaderReportsLost: the destination refuses the file and the
// backup directory is on a full filesystem (a real tmpfs). The job is
// reported Lost, never Backuped, and leaves no partial copy behind; once
// space returns the next failure is backed up again.
func TestUploaderReportsLost(t *testing.T) {
	root := t.TempDir()
	backups := filepath.Join(root, "backup")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	testfs.Mount(t, backups, "size=1m")
	src := filepath.Join(root, "seg.m4s")
	if err := os.WriteFile(src, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	destDir := filepath.Join(root, "bucket")
	if err := os.WriteFile(destDir, nil, 0o600); err != nil { // blocks MkdirAll
		t.Fatal(err)
	}
	var res results
	u := NewUploader(backups, WithResults(res.add), WithBackoff(time.Millisecond), WithRetryInterval(time.Hour))
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	defer u.Close(context.Background())

	filler := filepath.Join(backups, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for _, err = f.Write(make([]byte, 4096)); err == nil; _, err = f.Write(make([]byte, 4096)) {
	}
	_ = f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the backup disk: %v", err)
	}

	dest := Destination{Kind: "local", Dir: destDir}
	if _, err := u.Submit(Job{Session: "s1", Dest: dest, Key: "p/seg1.m4s", File: src}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return res.count(Lost) == 1 })
	if n := res.count(Backuped); n != 0 {
		t.Fatalf("%d jobs reported backuped on a full backup disk", n)
	}
	res.mu.Lock()
	lost := res.got[0]
	res.mu.Unlock()
	if lost.Job.Key != "p/seg1.m4s" || !errors.Is(lost.Err, syscall.ENOSPC) {
		t.Errorf("lost result: key %q, err %v; want the key and ENOSPC", lost.Job.Key, lost.Err)
	}
	if n := len(u.Backups()); n != 0 {
		t.Errorf("%d backups listed for a lost file", n)
	}
	names, _ := filepath.Glob(filepath.Join(backups, "*"))
	if len(names) != 1 {
		t.Errorf("backup directory holds %v, want only the filler", names)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Submit(Job{Session: "s1", Dest: dest, Key: "p/seg2.m4s", File: src}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return res.count(Backuped) == 1 })
	if n := len(u.Backups()); n != 1 {
		t.Errorf("%d backups once space returned, want 1", n)
	}
}
