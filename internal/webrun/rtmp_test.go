package webrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/netguard"
	"github.com/ars-project/ars/internal/testmedia"
)

const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// startNginxRTMP runs Debian's nginx with libnginx-mod-rtmp on a loopback
// port, recording every stream published to app "live" as <dir>/<key>.flv.
func startNginxRTMP(t *testing.T, dir string) int {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skipf("nginx is not installed (scripts/install-test-deps.sh): %v", err)
	}
	if _, err := os.Stat(rtmpModule); err != nil {
		t.Skipf("libnginx-mod-rtmp is not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf(`load_module %s;
daemon off; master_process off; pid %s/nginx.pid; error_log %s/error.log info;
events {}
rtmp { server { listen 127.0.0.1:%d; application live { live on; record all; record_path %s; record_unique off; } } }
`, rtmpModule, dir, dir, port, dir)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", cf)
	if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", cf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("nginx rtmp did not listen")
	return 0
}

// A web recording pushed to a local RTMP server (nginx-rtmp) is received
// and decodes; a second, dead target fails alone: the recording and the
// first push go on.
func TestRTMPPush(t *testing.T) {
	requireWeb(t)
	bin := mixerBinary(t)
	rdir := t.TempDir()
	port := startNginxRTMP(t, rdir)
	goroutineGuard(t)
	html := page(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(html)
	}))
	defer srv.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "rtmp://" + dead.Addr().String() + "/live/dead"
	dead.Close() // nothing listens there any more
	good := fmt.Sprintf("rtmp://127.0.0.1:%d/live/key1", port)
	cfg := webConfig(t, srv.URL+"/")
	cfg.RTMP = []string{good, deadURL}
	guard := netguard.New(netguard.WithAllowList(mustAllow(t, cfg.AllowList)))
	for _, u := range cfg.RTMP {
		if err := CheckRTMPURL(context.Background(), guard, u); err != nil {
			t.Fatalf("allowed rtmp target refused: %v", err)
		}
	}
	if err := CheckRTMPURL(context.Background(), netguard.New(), good); !errors.Is(err, netguard.ErrForbiddenAddress) {
		t.Fatalf("loopback rtmp target with the default policy: %v", err)
	}
	var mu sync.Mutex
	seen := map[string][]string{}
	r, err := New(cfg, WithBinary(bin), WithOnRTMPStatus(func(st mixproto.WebRTMPStatus) {
		mu.Lock()
		seen[st.URL] = append(seen[st.URL], st.Status)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second)
	st := r.RTMPStatus()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	t.Logf("rtmp states: %v; at the end %+v", seen, st)
	if got := strings.Join(seen[good], ","); !strings.Contains(got, mixproto.RTMPPublishing) || strings.Contains(got, mixproto.RTMPFailed) {
		t.Errorf("good target went %s", got)
	}
	if got := strings.Join(seen[deadURL], ","); !strings.Contains(got, mixproto.RTMPFailed) {
		t.Errorf("dead target went %s", got)
	}
	mu.Unlock()
	flv := filepath.Join(rdir, "key1.flv")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(flv); err == nil && fi.Size() > 0 {
			break
		}
	}
	p := testmedia.ProbeMP4(t, flv) // decodes it (-xerror) and counts frames
	t.Logf("received: %+v", p)
	var v, a int
	for _, s := range p.Streams {
		switch s.Type {
		case "video":
			v = s.Frames
		case "audio":
			a = s.Frames
		}
	}
	if v < 100 || a < 100 {
		t.Errorf("received %d video and %d audio frames, want several seconds of both", v, a)
	}
}
