package e2e

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// trap is a real TCP listener on loopback that must never be connected
// to: it counts what it accepts.
type trap struct {
	ln       net.Listener
	accepted atomic.Int32
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return tr
}

func (tr *trap) port() string { return strconv.Itoa(tr.ln.Addr().(*net.TCPAddr).Port) }

// guardedCloudDaemon is cloudDaemon without any outbound allow-list: the
// daemon as shipped.
func guardedCloudDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	return startDaemon(t, append([]string{"ARS_CLOUD_CUSTOMER_ID=" + customerID, "ARS_CLOUD_CUSTOMER_SECRET=" + customerSecret,
		"ARS_CLOUD_SEGMENT_DURATION=2s", "ARS_CLOUD_BACKUP_RETRY=1s", "ARS_IDLE_TIMEOUT=5s"}, extra...)...)
}

func s3Start(token, cname, endpoint string) *startReqBody {
	b := individualStart(token, cname, nil, "recordings", false)
	b.ClientRequest.StorageConfig = &storageConfig{Vendor: 11, Bucket: "recordings", AccessKey: s3Access, SecretKey: s3Secret,
		ExtensionParams: &extensionParams{Endpoint: endpoint}}
	return b
}

// TestSSRFStorageEndpointRefused: a start whose S3 endpoint is loopback,
// link-local (cloud metadata), private, the daemon itself, or a name or
// IPv6 form of loopback is refused with Agora's code 2 before anything is
// dialled; the listener behind the loopback endpoints sees no
// connection. (Old code: start answered 200 and uploads went there.)
func TestSSRFStorageEndpointRefused(t *testing.T) {
	tr := newTrap(t)
	d := guardedCloudDaemon(t)
	c := newAgoraClient(t, d, appID)
	const cname = "ssrfroom"
	token := d.key("media", cname, 527841)
	endpoints := []string{
		"http://127.0.0.1:" + tr.port(),
		"http://169.254.169.254",
		"http://10.1.2.3",
		"http://10.1.2.3:9000",
		d.base, // the daemon's own API port
		"http://localhost:" + tr.port(),
		"http://[::1]:" + tr.port(),
		"http://[::ffff:127.0.0.1]:" + tr.port(),
		"http://[::ffff:7f00:1]:" + tr.port(),
		"http://0.0.0.0:" + tr.port(),
		"http://127.1.2.3:" + tr.port(),
		"http://192.168.0.1",
		"http://100.64.0.1",
		"http://[fd00::1]:9000",
		"http://[fe80::1]:9000",
	}
	for i, ep := range endpoints {
		st, acq := c.acquire(cname, recorderUID)
		if st != http.StatusOK {
			t.Fatalf("acquire: %d %+v", st, acq)
		}
		st, a := c.start(acq.ResourceId, "individual", s3Start(token, cname, ep))
		if st != http.StatusBadRequest || a.Code != 2 || !strings.Contains(a.Reason, "refused") {
			t.Errorf("start with endpoint %s: %d %+v, want 400 code 2 with a reason", ep, st, a)
			if a.Sid != "" {
				c.stop(acq.ResourceId, a.Sid, cname, recorderUID)
			}
			continue
		}
		t.Logf("%s: %s", ep, a.Reason)
		if got := d.metric(`ars_outbound_refused_total{purpose="storage"}`); got < float64(i+1) {
			t.Errorf("ars_outbound_refused_total{purpose=\"storage\"} = %v after %d refusals", got, i+1)
		}
	}
	if got := d.metric("ars_cloud_recordings_running"); got != 0 {
		t.Errorf("%v cloud recordings running after refused starts", got)
	}
	time.Sleep(200 * time.Millisecond)
	if n := tr.accepted.Load(); n != 0 {
		t.Fatalf("the loopback endpoint received %d connection(s)", n)
	}
}

// TestSSRFAllowListUploads: with ARS_OUTBOUND_ALLOW=127.0.0.1/32 a
// recording uploads to versitygw on loopback, while the daemon's own port
// on that allowed address stays refused.
func TestSSRFAllowListUploads(t *testing.T) {
	requireFFmpeg(t)
	s3 := startVersity(t)
	s3.makeBucket("recordings")
	d := guardedCloudDaemon(t, "ARS_OUTBOUND_ALLOW=127.0.0.1/32")
	c := newAgoraClient(t, d, appID)
	const cname = "allowroom"
	token := d.key("media", cname, 527841)

	_, acq := c.acquire(cname, recorderUID)
	if st, a := c.start(acq.ResourceId, "individual", s3Start(token, cname, d.base)); st != http.StatusBadRequest || a.Code != 2 ||
		!strings.Contains(a.Reason, "own listener") {
		t.Errorf("start with the daemon's own port as endpoint: %d %+v", st, a)
	}

	_, acq = c.acquire(cname, recorderUID)
	st, started := c.start(acq.ResourceId, "individual", s3Start(token, cname, s3.endpoint()))
	if st != http.StatusOK {
		t.Fatalf("start to allowed versitygw: %d %+v", st, started)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := d.joinRTP(cname, 11, 0x1111, 0x1112)
	send := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 3)
	if err := send.Run(); err != nil {
		t.Fatalf("ffmpeg sender: %v", err)
	}
	st, stopped := c.stop(acq.ResourceId, started.Sid, cname, recorderUID)
	if st != http.StatusOK || stopped.ServerResponse.UploadingStatus != "uploaded" || len(stopped.ServerResponse.FileList) == 0 {
		t.Fatalf("stop: %d %+v", st, stopped)
	}
	if keys := s3.keys("recordings"); len(keys) == 0 {
		t.Fatal("nothing reached the allowed bucket")
	}
}
