package objstore

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/netguard"
)

// TestUploaderGuardedTransport uploads to an S3 endpoint on loopback
// through the outbound guard: nothing reaches the listener, and the file
// takes the backup path as for any failed upload.
func TestUploaderGuardedTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	root := t.TempDir()
	src := filepath.Join(root, "seg.m4s")
	if err := os.WriteFile(src, []byte("segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	var res results
	u := NewUploader(filepath.Join(root, "backup"), WithResults(res.add), WithBackoff(time.Millisecond),
		WithRetryInterval(time.Hour), WithTransport(netguard.New().Transport("storage")))
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	defer u.Close(context.Background())
	dest := Destination{Kind: "s3", Endpoint: "http://" + ln.Addr().String(), Bucket: "bucket", PathStyle: true,
		Region: "us-east-1", AccessKey: "a", SecretKey: "b"}
	if _, err := u.Submit(Job{Session: "s", Dest: dest, Key: "k/seg.m4s", File: src}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return res.count(Backuped) == 1 })
	res.mu.Lock()
	got := res.got[0].Err
	res.mu.Unlock()
	if got == nil || !strings.Contains(got.Error(), "forbidden address") {
		t.Errorf("backup reason %v, want the guard's refusal", got)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the loopback endpoint received %d connection(s)", n)
	}
	if len(u.Backups()) != 1 {
		t.Errorf("%d backups, want 1", len(u.Backups()))
	}
}
