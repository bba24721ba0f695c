package rtpingest

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpbatch"
	"github.com/ars-project/ars/internal/vcodec"
)

func rtp(ssrc uint32, seq uint16, payload int) []byte {
	p := make([]byte, 12+payload)
	p[0], p[1] = 0x80, 96
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*3000)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return p
}

func TestValidRTP(t *testing.T) {
	ext := append([]byte{0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1}, 1, 2, 3, 4, 9)
	cases := []struct {
		name string
		pkt  []byte
		ok   bool
	}{
		{"plain", rtp(1, 1, 10), true},
		{"short", rtp(1, 1, 0)[:11], false},
		{"version 1", append([]byte{0x40}, rtp(1, 1, 4)[1:]...), false},
		{"extension", ext, true},
		{"extension overruns", ext[:15], false},
		{"csrc overruns", append([]byte{0x8f}, rtp(1, 1, 4)[1:]...), false},
		{"padding ok", append(append([]byte{0xa0}, rtp(1, 1, 4)[1:]...)[:15], 1), true},
		{"padding zero", append(append([]byte{0xa0}, rtp(1, 1, 4)[1:]...)[:15], 0), false},
		{"padding overruns", append(append([]byte{0xa0}, rtp(1, 1, 4)[1:]...)[:15], 200), false},
	}
	for _, tc := range cases {
		if got := validRTP(tc.pkt); got != tc.ok {
			t.Errorf("%s: valid=%v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestValidRTCPAndBye(t *testing.T) {
	sr := make([]byte, 28)
	sr[0], sr[1] = 0x80, 200
	binary.BigEndian.PutUint16(sr[2:], 6)
	bye := []byte{0x82, 203, 0, 2, 0, 0, 0, 5, 0, 0, 0, 6}
	compound := append(append([]byte{}, sr...), bye...)
	if !validRTCP(compound) || !isRTCP(compound) {
		t.Fatal("valid compound refused")
	}
	if validRTCP(compound[:len(compound)-1]) {
		t.Fatal("cut compound accepted")
	}
	var got []uint32
	forEachBye(compound, func(s uint32) { got = append(got, s) })
	if len(got) != 2 || got[0] != 5 || got[1] != 6 {
		t.Fatalf("bye ssrcs %v", got)
	}
}

// FuzzPacketChecks runs the packet validators on arbitrary datagrams.
func FuzzPacketChecks(f *testing.F) {
	f.Add(rtp(1, 2, 20))
	f.Add([]byte{0x81, 203, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		if isRTCP(b) {
			if validRTCP(b) {
				forEachBye(b, func(uint32) {})
			}
			return
		}
		_ = validRTP(b)
	})
}

type rig struct {
	engine *Engine
	mgr    *session.Manager
	m      *metrics.Metrics
	p      *session.Participant
	port   int
	dir    string
}

// newEngine starts a session manager and an engine on one kernel-chosen
// port, both closed when the test ends.
func newEngine(t testing.TB, opts ...Option) (*session.Manager, *Engine, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: t.TempDir()}, session.WithMetrics(m), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	e := New("127.0.0.1", 0, 0, append([]Option{WithMetrics(m), WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	// Port 0 asks the kernel for a free port.
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		_ = mgr.Close(context.Background())
	})
	return mgr, e, m
}

// join adds a participant with streams to channel and routes them.
func join(t testing.TB, mgr *session.Manager, e *Engine, channel string, uid uint32, streams []storage.StreamInfo) *session.Participant {
	t.Helper()
	p, err := mgr.Join(channel, uid, "rtp", streams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Attach(p, streams); err != nil {
		t.Fatal(err)
	}
	return p
}

func newRig(t testing.TB, ssrcs ...uint32) *rig {
	t.Helper()
	mgr, e, m := newEngine(t)
	var streams []storage.StreamInfo
	for _, s := range ssrcs {
		streams = append(streams, storage.StreamInfo{SSRC: s, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000})
	}
	p := join(t, mgr, e, "bench", 1, streams)
	info, _, err := mgr.StartRecording("bench", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	port := e.ports[0].conn.LocalAddr().(*net.UDPAddr).Port
	return &rig{engine: e, mgr: mgr, m: m, p: p, port: port, dir: info.Directory}
}

// dial returns a socket sending to the rig's port.
func (r *rig) dial(t testing.TB) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// stopAndOpen stops the recording and opens its one capture.
func (r *rig) stopAndOpen(t testing.TB) *storage.Reader {
	t.Helper()
	r.mgr.StopRecording("bench", session.StopRequested)
	files, _ := filepath.Glob(filepath.Join(r.dir, "*.tmp"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	rd, err := storage.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	return rd
}

// waitCount waits up to 5 s for counter c to reach n.
func waitCount(c prometheus.Collector, n float64) {
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(c) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEngineRecordsAndCounts(t *testing.T) {
	r := newRig(t, 10, 11)
	conn := r.dial(t)
	send := func(b []byte) {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		send(rtp(10, uint16(i), 100))
	}
	send(rtp(99, 1, 10))      // unknown ssrc
	send([]byte{0x80, 96, 0}) // malformed
	send(rtp(10, 500, 1600))  // oversize
	send(rtp(10, 1, 4)[:11])  // short: malformed
	waitCount(r.m.PacketsReceived, 104)
	if got := testutil.ToFloat64(r.m.PacketsWritten); got != 100 {
		t.Errorf("written %v, want 100", got)
	}
	for name, c := range map[string]float64{"unknown": testutil.ToFloat64(r.m.DropUnknownSSRC), "malformed": testutil.ToFloat64(r.m.DropMalformed), "oversize": testutil.ToFloat64(r.m.DropOversize)} {
		want := 1.0
		if name == "malformed" {
			want = 2
		}
		if c != want {
			t.Errorf("%s drops %v, want %v", name, c, want)
		}
	}
	s, err := storage.Summarize(r.stopAndOpen(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stream(10); st == nil || st.Packets != 100 || st.Gaps != 0 {
		t.Fatalf("summary %+v", st)
	}
}

// BenchmarkHandle is the demultiplex-and-write step alone.
func BenchmarkHandle(b *testing.B) {
	r := newRig(b, 10)
	pkt := rtp(10, 1, 1100)
	src := udpbatch.Addr{Family: 2, Port: 5000}
	pt := r.engine.ports[0]
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		var st batchStats
		r.engine.handle(pt, pkt, false, src, time.Now(), &st)
		st.publish(r.m)
	}
}

// BenchmarkHandleCVO is BenchmarkHandle for a VP8 stream that declared
// the camera orientation extension, every packet carrying it: the cost
// of watching the orientation on the packet path.
func BenchmarkHandleCVO(b *testing.B) {
	mgr, e, m := newEngine(b)
	streams := []storage.StreamInfo{{SSRC: 10, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecVP8, ClockRate: 90000,
		Extensions: []storage.HeaderExtension{{ID: 3, URI: vcodec.CVOURI}}}}
	join(b, mgr, e, "bench", 1, streams)
	if _, _, err := mgr.StartRecording("bench", 1, ""); err != nil {
		b.Fatal(err)
	}
	pkt := append(vp8RTPWithCVO(10, 1, false, 1), make([]byte, 1080)...)
	src := udpbatch.Addr{Family: 2, Port: 5000}
	pt := e.ports[0]
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		var st batchStats
		e.handle(pt, pkt, false, src, time.Now(), &st)
		st.publish(m)
	}
}

// BenchmarkReceiveDemuxWrite is the whole packet path over a real
// loopback socket: recvmmsg, validation, SSRC demultiplexing, source
// pinning and the buffered capture write. allocs/op counts every
// goroutine, the engine's reader included.
func BenchmarkReceiveDemuxWrite(b *testing.B) {
	r := newRig(b, 10)
	conn := r.dial(b)
	_ = conn.SetWriteBuffer(4 << 20)
	pkt := rtp(10, 1, 1100)
	// Up to window packets are in flight (well inside the socket buffer);
	// progress is read only once per window so that reading the counter
	// (which allocates) does not show up per packet.
	const window = 512
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	base := testutil.ToFloat64(r.m.PacketsWritten)
	sent := 0
	for b.Loop() {
		binary.BigEndian.PutUint16(pkt[2:], uint16(sent))
		if sent%window == 0 {
			for float64(sent)-(testutil.ToFloat64(r.m.PacketsWritten)-base) >= window {
				time.Sleep(20 * time.Microsecond)
			}
		}
		if _, err := conn.Write(pkt); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for testutil.ToFloat64(r.m.PacketsWritten)-base < float64(sent) {
		time.Sleep(50 * time.Microsecond)
	}
}

// A plain-RTP sender is asked for a keyframe (RTCP PLI, to where its
// packets come from) when its channel starts recording.
func TestKeyframeRequestOnRecordingStart(t *testing.T) {
	mgr, e, m := newEngine(t)
	streams := []storage.StreamInfo{
		{SSRC: 0x51, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000},
		{SSRC: 0x52, PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
	}
	join(t, mgr, e, "kf", 3, streams)
	port := e.ports[0].conn.LocalAddr().(*net.UDPAddr).Port
	sender, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Write(rtp(0x51, 1, 20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.PacketsReceived) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, err := mgr.StartRecording("kf", 3, ""); err != nil {
		t.Fatal(err)
	}
	_ = sender.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := sender.Read(buf)
	if err != nil {
		t.Fatalf("no keyframe request: %v", err)
	}
	if n != 12 || buf[0] != 0x81 || buf[1] != 206 || binary.BigEndian.Uint32(buf[8:12]) != 0x51 {
		t.Fatalf("not a PLI for the video stream: % x", buf[:n])
	}
}
