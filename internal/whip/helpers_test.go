package whip

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

const (
	testAppID   = "970ca35de60c44645bbae8a215061b33"
	testAppCert = "5cfd2fd1755d40ecb72977518be15d3b"
)

// checkGoroutines fails the test if goroutines started during it are
// still running after its cleanups: every PeerConnection, mux and loop
// must be closed. Register it first so that it runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines leaked (before %d, after %d):\n%s", n-before, before, n, buf)
		}
	})
}

// freePort finds a port number free for both UDP and TCP on loopback.
func freePort(t testing.TB) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type fixture struct {
	t    testing.TB
	root string
	mgr  *session.Manager
	ing  *Ingest
	srv  *httptest.Server
	http *http.Client
}

func newFixture(t testing.TB, port int, opts ...Option) *fixture {
	t.Helper()
	return newFixtureOn(t, "127.0.0.1", port, slog.New(slog.DiscardHandler), opts...)
}

// newFixtureOn is newFixture with the ICE port bound to bind and the
// ingest logging to log.
func newFixtureOn(t testing.TB, bind string, port int, log *slog.Logger, opts ...Option) *fixture {
	t.Helper()
	root := t.TempDir()
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: root}, session.WithLogger(log), session.WithMetrics(m))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	v, err := rdk.NewVerifier(testAppID, testAppCert)
	if err != nil {
		t.Fatal(err)
	}
	ing := New(mgr, v, bind, port, append([]Option{WithLogger(log), WithMetrics(m)}, opts...)...)
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ing.Mount(mux)
	srv := httptest.NewServer(mux)
	tr := &http.Transport{}
	f := &fixture{t: t, root: root, mgr: mgr, ing: ing, srv: srv, http: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
		ing.Close()
		_ = mgr.Close(context.Background())
	})
	return f
}

func mediaKey(t testing.TB, channel string, uid uint32) string {
	t.Helper()
	k, err := rdk.BuildKey4(rdk.Service4Media, rdk.DynamicKeyParams{
		AppID: testAppID, AppCertificate: testAppCert, Channel: channel, UID: uid, UnixTs: uint32(time.Now().Unix()), Salt: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func recordingKey(t *testing.T, channel string, uid uint32) string {
	t.Helper()
	k, err := rdk.BuildKey4(rdk.Service4Recording, rdk.DynamicKeyParams{
		AppID: testAppID, AppCertificate: testAppCert, Channel: channel, UID: uid, UnixTs: uint32(time.Now().Unix()), Salt: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// post sends a WHIP offer and returns the status, Location and body.
func (f *fixture) post(query, key, contentType, body string) (int, string, string) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+"/v1/whip?"+query, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(raw)
}

func (f *fixture) do(method, path string) int {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// clientCodecs picks what the test client's MediaEngine offers.
type clientCodecs int

const (
	browserLike clientCodecs = iota // every pion default codec, as a browser offers many
	vp8AndOpus                      // VP8 (with camera orientation) and Opus
	h265Only                        // a video codec ars does not record
	h265AndOpus
)

// newClient makes a pion PeerConnection that plays the browser.
func newClient(t testing.TB, codecs clientCodecs) *webrtc.PeerConnection {
	t.Helper()
	me := &webrtc.MediaEngine{}
	register := func(mime string, clock uint32, channels uint16, pt webrtc.PayloadType, kind webrtc.RTPCodecType) {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock, Channels: channels},
			PayloadType:        pt,
		}, kind); err != nil {
			t.Fatal(err)
		}
	}
	switch codecs {
	case browserLike:
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	case vp8AndOpus:
		register(webrtc.MimeTypeVP8, 90000, 0, 96, webrtc.RTPCodecTypeVideo)
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: vcodec.CVOURI}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	case h265Only, h265AndOpus:
		register(webrtc.MimeTypeH265, 90000, 0, 96, webrtc.RTPCodecTypeVideo)
	}
	if codecs == vp8AndOpus || codecs == h265AndOpus {
		register(webrtc.MimeTypeOpus, 48000, 2, 111, webrtc.RTPCodecTypeAudio)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// offer makes the client's complete (non-trickle) offer.
func offer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("client ICE gathering timed out")
	}
	return pc.LocalDescription().SDP
}

// mediaSections returns the m= lines of an SDP.
func mediaSections(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(line, "m=") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
