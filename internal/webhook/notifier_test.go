package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type receiver struct {
	mu      sync.Mutex
	failN   int // answer 500 to this many requests first
	got     []Notification
	bodies  [][]byte // as received
	badSigs int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !Verify("s3cret", body, req.Header.Get("Agora-Signature"), req.Header.Get("Agora-Signature-V2")) {
		r.badSigs++
	}
	if r.failN > 0 {
		r.failN--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var n Notification
	_ = json.Unmarshal(body, &n)
	r.got = append(r.got, n)
	r.bodies = append(r.bodies, body)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
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

func TestNotifierDeliversInOrderWithRetries(t *testing.T) {
	rcv := &receiver{failN: 2}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New(srv.URL, "s3cret", t.TempDir(), WithRetryPause(10*time.Millisecond))
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	for i := 1; i <= 5; i++ {
		if err := n.Notify(EventUploadingProgress, ServiceUploader, Payload{Cname: "c", UID: "1", SID: "s", Sequence: i}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return rcv.count() == 5 })
	for i, got := range rcv.got {
		if got.Payload.Sequence != i+1 || got.ProductID != 3 || got.EventType != EventUploadingProgress || got.NoticeID == "" {
			t.Errorf("notification %d: %+v", i, got)
		}
	}
	if rcv.badSigs != 0 {
		t.Errorf("%d bad signatures", rcv.badSigs)
	}
	// The receiver has the fifth before the notifier hears its 200 and
	// removes it from the queue: wait for that, do not race it.
	waitUntil(t, func() bool { return len(n.Pending()) == 0 })
}

func TestNotifierDropsAfterRetries(t *testing.T) {
	rcv := &receiver{failN: 4}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New(srv.URL, "s3cret", t.TempDir(), WithRetryPause(10*time.Millisecond), WithRetries(3))
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	_ = n.Notify(EventError, ServiceRecorder, Payload{Sequence: 1})
	_ = n.Notify(EventError, ServiceRecorder, Payload{Sequence: 2})
	waitUntil(t, func() bool { return rcv.count() == 1 })
	if rcv.got[0].Payload.Sequence != 2 {
		t.Errorf("delivered %+v; the first should have been dropped after 1+3 attempts", rcv.got[0])
	}
}

// TestNotifierQueueSurvivesRestart queues while the receiver is down and
// delivers from a new notifier on the same directory.
func TestNotifierQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := New("http://127.0.0.1:1/", "s3cret", dir, WithRetryPause(time.Hour))
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		_ = n.Notify(EventSessionExit, ServiceCloudRecording, Payload{Sequence: i})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(n.Pending()) != 3 {
		t.Fatalf("%d queued after close, want 3", len(n.Pending()))
	}
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n2 := New(srv.URL, "s3cret", dir)
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	defer n2.Close(context.Background())
	waitUntil(t, func() bool { return rcv.count() == 3 })
	for i, got := range rcv.got {
		if got.Payload.Sequence != i+1 {
			t.Errorf("order after restart: %d at %d", got.Payload.Sequence, i)
		}
	}
}

func TestSign(t *testing.T) {
	// Reference values computed with openssl dgst -sha1/-sha256 -hmac key.
	v1, v2 := Sign("key", []byte("The quick brown fox jumps over the lazy dog"))
	if v1 != "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9" ||
		v2 != "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Errorf("Sign = %s %s", v1, v2)
	}
}
