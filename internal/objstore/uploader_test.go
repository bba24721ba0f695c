package objstore

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestCleanKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a/b/c.m3u8": true, "c.m4s": true, "": false, "/abs": false, "a/../b": false, "a//b": false,
		"./a": false, "a/": false, `a\b`: false, "..": false,
	} {
		if err := CleanKey(key); (err == nil) != ok {
			t.Errorf("CleanKey(%q) = %v", key, err)
		}
	}
}

type results struct {
	mu  sync.Mutex
	got []Result
}

func (r *results) add(res Result) { r.mu.Lock(); r.got = append(r.got, res); r.mu.Unlock() }
func (r *results) count(o Outcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g.Outcome == o {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// TestUploaderBackupAndRestore makes a local destination unwritable (a
// file where its directory should be), then repairs it: the job is backed
// up, survives a restart, and lands once the destination works.
func TestUploaderBackupAndRestore(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "seg.m4s")
	if err := os.WriteFile(src, []byte("segment v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	destDir := filepath.Join(root, "bucket")
	if err := os.WriteFile(destDir, nil, 0o600); err != nil { // blocks MkdirAll
		t.Fatal(err)
	}
	backups := filepath.Join(root, "backup")
	var res results
	u := NewUploader(backups, WithResults(res.add), WithBackoff(time.Millisecond), WithRetryInterval(time.Hour))
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	job := Job{Session: "s1", Dest: Destination{Kind: "local", Dir: destDir}, Key: "p/seg.m4s", File: src}
	if q, err := u.Submit(job); err != nil || !q {
		t.Fatalf("submit: %v %v", q, err)
	}
	waitUntil(t, func() bool { return res.count(Backuped) == 1 })
	if err := u.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The source may go: the backup is a copy.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(destDir); err != nil {
		t.Fatal(err)
	}
	u2 := NewUploader(backups, WithResults(res.add), WithRetryInterval(20*time.Millisecond))
	if err := u2.Start(); err != nil {
		t.Fatal(err)
	}
	defer u2.Close(context.Background())
	if n := len(u2.Backups()); n != 1 {
		t.Fatalf("%d backups after restart", n)
	}
	waitUntil(t, func() bool { return res.count(Restored) == 1 })
	b, err := os.ReadFile(filepath.Join(destDir, "p", "seg.m4s"))
	if err != nil || string(b) != "segment v1" {
		t.Fatalf("restored file: %q %v", b, err)
	}
	if n := len(u2.Backups()); n != 0 {
		t.Errorf("%d backups left", n)
	}
}

func TestUploaderRejectsBadKeys(t *testing.T) {
	u := NewUploader(t.TempDir())
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	defer u.Close(context.Background())
	if _, err := u.Submit(Job{Dest: Destination{Kind: "local", Dir: t.TempDir()}, Key: "../escape", File: "x"}); err == nil {
		t.Error("key escaping the destination accepted")
	}
}
