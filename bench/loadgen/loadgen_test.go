package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

func requireFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH (make test-deps installs it)")
	}
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loadgen-media-")
	if err != nil {
		panic(err)
	}
	mediaRoot.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// mediaRoot holds the media of this test binary: encoding is the slow
// part, so the tests share one set.
var mediaRoot = struct {
	sync.Mutex
	dir string
}{}

// smallMedia is short, small media so that tests stay quick.
func smallMedia(t testing.TB) (Media, Tracks) {
	t.Helper()
	requireFFmpeg(t)
	mediaRoot.Lock()
	defer mediaRoot.Unlock()
	m, err := EnsureMedia(context.Background(), mediaRoot.dir, MediaOptions{Duration: 3 * time.Second, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTracks(m.Capture)
	if err != nil {
		t.Fatal(err)
	}
	return m, tr
}

func TestMediaTracks(t *testing.T) {
	_, tr := smallMedia(t)
	// 3 s of 25 fps video and 20 ms Opus frames: the loop length must be
	// the media length, and every audio frame one packet.
	for _, c := range []struct {
		t    *Track
		loop time.Duration
	}{{tr.Video, 3 * time.Second}, {tr.Audio, 3 * time.Second}} {
		if d := c.t.Loop - c.loop; d < -40*time.Millisecond || d > 40*time.Millisecond {
			t.Errorf("%s loop %v, want about %v", c.t.Info.Kind, c.t.Loop, c.loop)
		}
	}
	if n := len(tr.Audio.Packets); n < 145 || n > 155 {
		t.Errorf("audio packets %d, want 150", n)
	}
	// 450 kbit/s of video must come out near that rate (rate control
	// overshoots on short clips; a wrong unit would be off by 1000x).
	if br := tr.Video.Bitrate(); br < 250e3 || br > 800e3 {
		t.Errorf("video bitrate %.0f, want about 450k", br)
	}
	for i, p := range tr.Video.Packets {
		if i > 0 && p.At < tr.Video.Packets[i-1].At {
			t.Fatalf("video packet %d goes back in time", i)
		}
	}
}

// sink counts what arrives per SSRC on loopback ports and checks that each
// stream's sequence numbers and timestamps run on without jumps.
type sink struct {
	conns []*net.UDPConn
	mu    sync.Mutex
	count map[uint32]uint64
	last  map[uint32][2]uint32 // seq, ts
	bad   []string
	wg    sync.WaitGroup
}

func newSink(t *testing.T, n int) *sink {
	s := &sink{count: map[uint32]uint64{}, last: map[uint32][2]uint32{}}
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := c.SyscallConn()
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20)
		})
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go s.read(c)
	}
	return s
}

func (s *sink) ports() []int {
	var out []int
	for _, c := range s.conns {
		out = append(out, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return out
}

func (s *sink) read(c *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		ssrc := binary.BigEndian.Uint32(buf[8:])
		seq, ts := uint32(binary.BigEndian.Uint16(buf[2:])), binary.BigEndian.Uint32(buf[4:])
		s.mu.Lock()
		if prev, ok := s.last[ssrc]; ok {
			if uint16(seq-prev[0]) != 1 {
				s.bad = append(s.bad, "sequence jump")
			}
			// Timestamps never go back and never leap by more than a
			// second of the clock (a loop boundary done wrong would).
			if d := int32(ts - prev[1]); d < 0 || d > 90000 {
				s.bad = append(s.bad, "timestamp jump")
			}
		}
		s.last[ssrc] = [2]uint32{seq, ts}
		s.count[ssrc]++
		s.mu.Unlock()
	}
}

func (s *sink) close() {
	time.Sleep(200 * time.Millisecond)
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

func TestSendPacesAndRewrites(t *testing.T) {
	_, tr := smallMedia(t)
	for _, c := range []struct {
		name  string
		noGSO bool
	}{{"gso", false}, {"sendmmsg", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sendAndCheck(t, tr, c.noGSO)
		})
	}
}

func sendAndCheck(t *testing.T, tr Tracks, noGSO bool) {
	sk := newSink(t, 2)
	targets := Targets("t", 2, 2)
	SpreadPorts(targets, sk.ports())
	// 4 s of a 3 s loop: every stream crosses a loop boundary.
	const dur = 4 * time.Second
	rep, err := Send(context.Background(), tr, targets, SendOptions{Duration: dur, Seed: 1, NoGSO: noGSO})
	sk.close()
	if err != nil {
		t.Fatal(err)
	}
	// The receiving sockets never asked for GRO, so every GSO message
	// must have arrived as separate datagrams, counted one by one below.
	if gsoWanted := !noGSO && kernelGSO(t); gsoWanted != (rep.GSOMessages > 0) {
		t.Errorf("%d GSO messages (gso wanted: %v)", rep.GSOMessages, gsoWanted)
	}
	if rep.Messages == 0 || rep.Messages > rep.Packets || (rep.GSOMessages > 0) != (rep.Messages < rep.Packets) {
		t.Errorf("%d datagrams in %d messages, %d of them GSO", rep.Packets, rep.Messages, rep.GSOMessages)
	}
	if len(sk.bad) > 0 {
		t.Fatalf("received stream not continuous: %v (first of %d)", sk.bad[0], len(sk.bad))
	}
	if len(rep.Streams) != 8 {
		t.Fatalf("%d stream reports, want 8", len(rep.Streams))
	}
	var sum uint64
	for _, sr := range rep.Streams {
		got := sk.count[sr.SSRC]
		if got != sr.Packets {
			t.Errorf("ssrc %x: reported %d sent, %d arrived", sr.SSRC, sr.Packets, got)
		}
		if uint16(sr.LastSeq-sr.FirstSeq) != uint16(sr.Packets-1) {
			t.Errorf("ssrc %x: seq %d..%d for %d packets", sr.SSRC, sr.FirstSeq, sr.LastSeq, sr.Packets)
		}
		tk := tr.Video
		if sr.Kind == "audio" {
			tk = tr.Audio
		}
		// Paced at the media's own rate: 4 s worth, give or take a frame
		// or two at either end.
		want := tk.Rate() * dur.Seconds()
		if f := float64(sr.Packets); f < want*0.93 || f > want*1.07 {
			t.Errorf("ssrc %x (%s): sent %d, want about %.0f", sr.SSRC, sr.Kind, sr.Packets, want)
		}
		sum += sr.Packets
	}
	if sum != rep.Packets || rep.SendErrors != 0 {
		t.Errorf("report total %d (errors %d), streams add up to %d", rep.Packets, rep.SendErrors, sum)
	}
	if rep.Elapsed < dur-50*time.Millisecond {
		t.Errorf("sent in %v, faster than real time", rep.Elapsed)
	}
}

// kernelGSO tells whether this kernel takes UDP_SEGMENT.
func kernelGSO(t *testing.T) bool {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return probeGSO(rc)
}

func TestSendStopsOnCancel(t *testing.T) {
	_, tr := smallMedia(t)
	sk := newSink(t, 1)
	defer sk.close()
	targets := Targets("c", 1, 1)
	SpreadPorts(targets, sk.ports())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := Send(ctx, tr, targets, SendOptions{Duration: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if rep == nil || rep.Packets == 0 || rep.Elapsed > 5*time.Second {
		t.Fatalf("report %+v", rep)
	}
}
