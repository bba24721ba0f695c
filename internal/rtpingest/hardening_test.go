package rtpingest

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/freeport"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// h264RTP is an RTP packet of ssrc carrying payload.
func h264RTP(ssrc uint32, seq uint16, payload ...byte) []byte {
	b := rtp(ssrc, seq, 0)
	return append(b, payload...)
}

func TestIsH264Keyframe(t *testing.T) {
	cases := []struct {
		name string
		pl   []byte
		want bool
	}{
		{"idr", []byte{0x65, 0x88}, true},
		{"sps", []byte{0x67, 0x42}, true},
		{"slice", []byte{0x41, 0x9a}, false},
		{"stap-a sps", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true},
		{"stap-a second idr", []byte{0x78, 0, 2, 0x06, 0x05, 0, 2, 0x65, 0x88}, true},
		{"stap-a slices", []byte{0x78, 0, 2, 0x41, 0x9a, 0, 2, 0x41, 0x9a}, false},
		{"stap-a overrun", []byte{0x78, 0, 9, 0x67}, false},
		{"fu-a idr start", []byte{0x7c, 0x85, 0x88}, true},
		{"fu-a idr middle", []byte{0x7c, 0x05, 0x88}, false},
		{"fu-a slice start", []byte{0x7c, 0x81, 0x9a}, false},
		{"empty", nil, false},
	}
	for _, tc := range cases {
		if got := isKeyframe(vcodec.H264, h264RTP(1, 1, tc.pl...)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	padded := h264RTP(1, 1, 0x65, 0x88, 0, 2)
	padded[0] |= 0x20
	if !isKeyframe(vcodec.H264, padded) {
		t.Error("padded idr not seen")
	}
	onlyPad := h264RTP(1, 1, 0x65, 2)
	onlyPad[0] |= 0x20
	if isKeyframe(vcodec.H264, onlyPad) {
		t.Error("payload taken from padding")
	}
	if n := testing.AllocsPerRun(100, func() { _ = isKeyframe(vcodec.H264, padded) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// FuzzKeyframe runs the keyframe detector on arbitrary valid RTP packets.
func FuzzKeyframe(f *testing.F) {
	f.Add(h264RTP(1, 1, 0x78, 0, 2, 0x67, 0x42))
	f.Add(h264RTP(1, 1, 0x7c, 0x85))
	f.Fuzz(func(t *testing.T, b []byte) {
		if validRTP(b) {
			_ = isKeyframe(vcodec.H264, b)
		}
	})
}

// readPLIs counts the PLIs for ssrc that conn receives within d.
func readPLIs(t *testing.T, conn *net.UDPConn, ssrc uint32, d time.Duration) int {
	t.Helper()
	n := 0
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for {
		_ = conn.SetReadDeadline(deadline)
		k, err := conn.Read(buf)
		if err != nil {
			return n
		}
		if k == 12 && buf[1] == 206 && buf[0]&0x1f == 1 && binary.BigEndian.Uint32(buf[8:12]) == ssrc {
			n++
		}
	}
}

// A video sender first heard from after its channel started recording is
// asked for a keyframe at once and again until one arrives; then no more.
func TestPLIWhenAddressLearntLate(t *testing.T) {
	mgr, e, m := newEngine(t, WithPLIInterval(100*time.Millisecond))
	streams := []storage.StreamInfo{{SSRC: 0x71, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000}}
	join(t, mgr, e, "late", 1, streams)
	if _, _, err := mgr.StartRecording("late", 1, ""); err != nil {
		t.Fatal(err)
	}
	port := e.ports[0].conn.LocalAddr().(*net.UDPAddr).Port
	sender, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if n := readPLIs(t, sender, 0x71, 300*time.Millisecond); n != 0 {
		t.Fatalf("%d PLIs before the sender's first packet", n)
	}
	if _, err := sender.Write(h264RTP(0x71, 1, 0x41, 0x9a)); err != nil {
		t.Fatal(err)
	}
	if n := readPLIs(t, sender, 0x71, 550*time.Millisecond); n < 2 {
		t.Fatalf("%d PLIs after the first packet, want repeated ones", n)
	}
	if _, err := sender.Write(h264RTP(0x71, 2, 0x7c, 0x85, 0x88)); err != nil { // an IDR's first fragment
		t.Fatal(err)
	}
	waitCount(m.PacketsWritten, 2)
	_ = readPLIs(t, sender, 0x71, 150*time.Millisecond) // one may have been on its way
	if n := readPLIs(t, sender, 0x71, 400*time.Millisecond); n != 0 {
		t.Fatalf("%d PLIs after the keyframe", n)
	}
	if testutil.ToFloat64(m.PLIsSent) < 2 {
		t.Fatalf("PLIs counted %v", testutil.ToFloat64(m.PLIsSent))
	}
}

// An SSRC is reserved per channel: another channel may use it on the same
// port when the two are told apart by their bound source IPs.
func TestSSRCPerChannelWithBoundSources(t *testing.T) {
	mgr, e, m := newEngine(t) // one port
	streams := []storage.StreamInfo{{SSRC: 0x99, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000}}
	a := join(t, mgr, e, "a", 1, streams) // unbound
	b, err := mgr.Join("b", 1, "rtp", streams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Attach(b, streams, BindSource(netip.MustParseAddr("127.0.0.2"))); err != nil {
		t.Fatalf("bound join of another channel's ssrc: %v", err)
	}
	c, _ := mgr.Join("c", 1, "rtp", streams)
	if _, err := e.Attach(c, streams); !errors.Is(err, ErrSSRCInUse) {
		t.Fatalf("second unbound route on the one port: %v", err)
	}
	c.Leave()
	a2, _ := mgr.Join("a", 2, "rtp", streams)
	if _, err := e.Attach(a2, streams, BindSource(netip.MustParseAddr("127.0.0.9"))); !errors.Is(err, ErrSSRCInUse) {
		t.Fatalf("duplicate ssrc within a channel: %v", err)
	}
	a2.Leave()
	for _, ch := range []string{"a", "b"} {
		if _, _, err := mgr.StartRecording(ch, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	port := e.ports[0].conn.LocalAddr().(*net.UDPAddr).Port
	send := func(from string, n int) {
		conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := 0; i < n; i++ {
			if _, err := conn.Write(rtp(0x99, uint16(i), 50)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("127.0.0.2", 20) // b's sender
	send("127.0.0.1", 30) // a's sender
	waitCount(m.PacketsWritten, 50)
	for _, tc := range []struct {
		p    *session.Participant
		want uint64
	}{{a, 30}, {b, 20}} {
		deadline := time.Now().Add(5 * time.Second)
		for tc.p.CaptureFile() == "" && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		file := tc.p.CaptureFile()
		mgr.StopRecording(tc.p.Channel(), session.StopRequested)
		rd, err := storage.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := storage.Summarize(rd)
		rd.Close()
		if err != nil || s.Stream(0x99) == nil || s.Stream(0x99).Packets != tc.want {
			t.Fatalf("channel %s: summary %+v %v, want %d packets", tc.p.Channel(), s, err, tc.want)
		}
	}
}

// A new unbound join whose SSRC a bound route already uses (a resumed
// join, bound to its pinned host) goes to a port where that SSRC is free
// when there is one: sharing the port would hand the bound join every
// packet the new sender sends from the same host.
func TestAttachAvoidsPortsRoutingTheSSRC(t *testing.T) {
	first, last, err := freeport.UDPRange(3)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	mgr := session.New(storage.Layout{Root: t.TempDir()}, session.WithMetrics(m), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	e := New("127.0.0.1", first, last, WithMetrics(m), WithLogger(slog.New(slog.DiscardHandler)))
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		_ = mgr.Close(context.Background())
	})
	streams := []storage.StreamInfo{{SSRC: 2, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000}}
	// The least loaded port is the first; the resumed join is bound there.
	old, _ := mgr.Join("old", 1, "rtp", streams)
	oldPort, err := e.Attach(old, streams, BindSource(netip.MustParseAddr("127.0.0.1")))
	if err != nil {
		t.Fatal(err)
	}
	// Load the other ports so that the bound one is the least loaded.
	for i := range 2 {
		filler := []storage.StreamInfo{{SSRC: uint32(100 + i), PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000}}
		p, _ := mgr.Join("filler", uint32(i+1), "rtp", filler)
		if _, err := e.Attach(p, filler); err != nil {
			t.Fatal(err)
		}
	}
	fresh, _ := mgr.Join("new", 1, "rtp", streams)
	freshPort, err := e.Attach(fresh, streams)
	if err != nil {
		t.Fatal(err)
	}
	if freshPort == oldPort {
		t.Fatalf("the new join of ssrc 2 shares port %d with the join bound to its host", oldPort)
	}
}

// vp8RTPWithCVO is a VP8 packet (S=1, PID=0) whose frame tag says key or
// inter frame, with a CVO element of ID 3 when cvo >= 0.
func vp8RTPWithCVO(ssrc uint32, seq uint16, key bool, cvo int) []byte {
	b := []byte{0x80, 96, 0, 0, 0, 0, 0, byte(seq), 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	if cvo >= 0 {
		b[0] |= 0x10
		b = append(b, 0xBE, 0xDE, 0, 1, 0x30, byte(cvo), 0, 0)
	}
	tag := byte(0x51)
	if key {
		tag = 0x50
	}
	return append(b, 0x10, tag, 0, 0, 0x9d, 0x01, 0x2a)
}

// TestPLIOnOrientationChange: a VP8 sender that declared CVO is asked for
// a keyframe when its camera turns (the recording shows a new orientation
// from a keyframe on), not when it first says how it is held, and not
// for the camera bit alone.
func TestPLIOnOrientationChange(t *testing.T) {
	mgr, e, _ := newEngine(t, WithPLIInterval(100*time.Millisecond))
	streams := []storage.StreamInfo{{SSRC: 0x72, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecVP8, ClockRate: 90000,
		Extensions: []storage.HeaderExtension{{ID: 3, URI: vcodec.CVOURI}}}}
	join(t, mgr, e, "turn", 1, streams)
	if _, _, err := mgr.StartRecording("turn", 1, ""); err != nil {
		t.Fatal(err)
	}
	port := e.ports[0].conn.LocalAddr().(*net.UDPAddr).Port
	sender, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	send := func(seq uint16, key bool, cvo int) {
		t.Helper()
		if _, err := sender.Write(vp8RTPWithCVO(0x72, seq, key, cvo)); err != nil {
			t.Fatal(err)
		}
	}
	send(1, true, -1)
	_ = readPLIs(t, sender, 0x72, 200*time.Millisecond) // the one asked when the address was learnt
	send(2, false, 1)                                   // the first orientation: 90 degrees
	send(3, false, 1|0x08)                              // the camera bit alone
	if n := readPLIs(t, sender, 0x72, 350*time.Millisecond); n != 0 {
		t.Fatalf("%d PLIs without a change of orientation", n)
	}
	send(4, false, 2) // turned to 180 degrees
	if n := readPLIs(t, sender, 0x72, 350*time.Millisecond); n < 1 {
		t.Fatal("no PLI after the orientation changed")
	}
	send(5, true, 2)
	_ = readPLIs(t, sender, 0x72, 150*time.Millisecond)
	if n := readPLIs(t, sender, 0x72, 350*time.Millisecond); n != 0 {
		t.Fatalf("%d PLIs after the keyframe in the new orientation", n)
	}
}
