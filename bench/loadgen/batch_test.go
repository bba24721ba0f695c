package loadgen

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeTrack is a track of packets of the given sizes, 20 ms apart.
func fakeTrack(sizes ...int) *Track {
	t := &Track{Loop: time.Duration(len(sizes)) * 20 * time.Millisecond, tsOff: make([]uint32, len(sizes))}
	for i, n := range sizes {
		p := make([]byte, n)
		p[0] = 0x80
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		t.Packets = append(t.Packets, Packet{At: time.Duration(i) * 20 * time.Millisecond, Data: p})
	}
	return t
}

// loopbackBatch is a batch connected to a socket nobody reads, for
// looking at how add groups datagrams.
func loopbackBatch(t testing.TB, n int, gso bool) *batch {
	t.Helper()
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	b, err := newBatch(l.LocalAddr().(*net.UDPAddr), n, gso)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	if gso && !b.gso {
		t.Skip("kernel without UDP GSO")
	}
	return b
}

// TestBatchGroups checks which datagrams share a GSO message: one size
// per message but a shorter last one, at most maxSegments, and never a
// stream's datagram before an earlier one of the same stream.
func TestBatchGroups(t *testing.T) {
	type add struct{ stream, size int }
	adds := func(stream int, sizes ...int) []add {
		var out []add
		for _, n := range sizes {
			out = append(out, add{stream, n})
		}
		return out
	}
	many := make([]int, 70)
	for i := range many {
		many[i] = 1200
	}
	for _, c := range []struct {
		name string
		adds []add
		want [][]int // per message: the sizes of its datagrams, in order
	}{
		{"frame", adds(0, 1200, 1200, 501), [][]int{{1200, 1200, 501}}},
		{"keyframe with parameter sets", adds(0, 739, 1200, 1200, 501), [][]int{{739}, {1200, 1200, 501}}},
		{"growing sizes", adds(0, 90, 91, 92), [][]int{{90}, {91}, {92}}},
		// A message holds one stream's datagrams: a receiver's GRO merges
		// one flow's only.
		{"equal audio of two streams", append(adds(0, 140), adds(1, 140)...), [][]int{{140}, {140}}},
		{"three streams, three messages", append(append(adds(0, 145), adds(1, 141)...), adds(2, 139)...),
			[][]int{{145}, {141}, {139}}},
		{"much shorter keeps to itself", append(adds(0, 1200), adds(1, 300)...), [][]int{{1200}, {300}}},
		{"frames of two streams", append(adds(0, 1200, 700), adds(1, 1200, 1200, 300)...),
			[][]int{{1200, 700}, {1200, 1200, 300}}},
		{"audio between frames", append(append(adds(0, 1200), adds(1, 140)...), append(adds(0, 1200, 600), adds(2, 140)...)...),
			[][]int{{1200, 1200, 600}, {140}, {140}}},
		// Stream 1's second datagram may not join message 0, which
		// would send it before stream 1's first.
		{"stream order", append(append(adds(0, 1200), adds(1, 1300)...), adds(1, 1200)...),
			[][]int{{1200}, {1300, 1200}}},
		{"larger after shorter starts a message", append(append(adds(0, 1200), adds(1, 1100)...), adds(1, 1200)...),
			[][]int{{1200}, {1100}, {1200}}},
		{"segment limit", adds(0, many...), [][]int{many[:54], many[54:]}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := loopbackBatch(t, 256, true)
			streams := map[int]*stream{}
			for _, a := range c.adds {
				s := streams[a.stream]
				if s == nil {
					s = &stream{t: fakeTrack(), out: b, ssrc: uint32(a.stream)}
					streams[a.stream] = s
				}
				s.t.Packets = append(s.t.Packets, fakeTrack(a.size).Packets[0])
				s.t.tsOff = append(s.t.tsOff, 0)
				b.add(s, uint64(len(s.t.Packets)-1))
			}
			var got [][]int
			for m := range b.nmsg {
				var sizes []int
				for p := b.mq[m].head; p >= 0; p = b.pkts[p].next {
					sizes = append(sizes, len(b.pkts[p].data))
				}
				got = append(got, sizes)
			}
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("messages %v, want %v", got, c.want)
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if b.packets != uint64(len(c.adds)) || b.errs != 0 || b.msgsSent != uint64(len(c.want)) {
				t.Errorf("sent %d datagrams in %d messages (%d errors), want %d in %d",
					b.packets, b.msgsSent, b.errs, len(c.adds), len(c.want))
			}
		})
	}
}

// TestBatchNoAllocs checks that queueing and sending allocate nothing:
// at 200k packets a second the garbage collector would otherwise be part
// of the load.
func TestBatchNoAllocs(t *testing.T) {
	b := loopbackBatch(t, 64, true)
	tr := fakeTrack(1200, 1200, 501, 140, 1200, 300)
	s := &stream{t: tr, out: b}
	allocs := testing.AllocsPerRun(50, func() {
		for range 12 {
			b.add(s, s.n)
			s.n++
		}
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per batch, want 0", allocs)
	}
}

// BenchmarkBatch is the user-space cost of a datagram: header rewrite,
// grouping, iovec layout and crediting, plus the send to a loopback
// socket nobody reads.
func BenchmarkBatch(b *testing.B) {
	for _, gso := range []bool{false, true} {
		name := "sendmmsg"
		if gso {
			name = "gso"
		}
		b.Run(name, func(b *testing.B) {
			bt := loopbackBatch(b, 256, gso)
			tr := fakeTrack(1200, 1200, 501, 140, 1200, 300, 141, 140)
			ss := make([]*stream, 32)
			for i := range ss {
				ss[i] = &stream{t: tr, out: bt, phase: i % len(tr.Packets)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := ss[i%len(ss)]
				if bt.full() {
					if err := bt.flush(); err != nil {
						b.Fatal(err)
					}
				}
				bt.add(s, s.n)
				s.n++
			}
			if err := bt.flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestBatchFallsBackWithoutGSO makes the kernel refuse GSO (it does on a
// socket without UDP checksums) and checks that the datagrams still go,
// one by one, each counted once.
func TestBatchFallsBackWithoutGSO(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := newBatch(l.LocalAddr().(*net.UDPAddr), 16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if !b.gso {
		t.Skip("kernel without UDP GSO")
	}
	var serr error
	if err := b.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	s := &stream{t: fakeTrack(1200, 1200, 501, 1200, 1200, 300), out: b}
	for i := range 3 {
		b.add(s, uint64(i))
	}
	if b.nmsg != 1 {
		t.Fatalf("%d messages, want one GSO message", b.nmsg)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if b.gso || b.packets != 3 || b.errs != 0 || s.rep.Packets != 3 || s.rep.LastSeq != 2 {
		t.Fatalf("gso %v, sent %d, errors %d, stream %+v", b.gso, b.packets, b.errs, s.rep)
	}
	// Later batches go datagram by datagram from the start.
	for i := 3; i < 6; i++ {
		b.add(s, uint64(i))
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if b.msgsSent != 3 || b.packets != 6 || b.errs != 0 {
		t.Fatalf("second batch: %d messages, %d sent, %d errors", b.msgsSent, b.packets, b.errs)
	}
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	for i, want := range []int{1200, 1200, 501, 1200, 1200, 300} {
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if n != want || binary.BigEndian.Uint16(buf[2:]) != uint16(i) {
			t.Fatalf("datagram %d: %d bytes, seq %d", i, n, binary.BigEndian.Uint16(buf[2:]))
		}
	}
}
