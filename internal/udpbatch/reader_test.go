package udpbatch

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReaderBatchesAndSources(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := SetReadBuffer(conn, 1<<20); got <= 0 {
		t.Fatalf("granted %d", got)
	}
	r, err := NewReader(conn, 8)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	b, _ := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	defer a.Close()
	defer b.Close()
	_, _ = a.Write([]byte("one"))
	_, _ = b.Write([]byte("two!"))
	_, _ = a.Write(make([]byte, MaxDatagram+10))
	var got []string
	var srcs []Addr
	truncated := 0
	for len(got)+truncated < 3 {
		n, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			data, trunc, src := r.Datagram(i)
			if r.Size(i) != len(data) {
				t.Fatalf("size %d, data %d", r.Size(i), len(data))
			}
			if trunc {
				truncated++
				continue
			}
			got = append(got, string(data))
			srcs = append(srcs, src)
		}
	}
	if len(got) != 2 || got[0] != "one" || got[1] != "two!" || truncated != 1 {
		t.Fatalf("got %q, %d truncated", got, truncated)
	}
	if srcs[0] == srcs[1] || !srcs[0].SameHost(srcs[1]) {
		t.Fatalf("sources %v %v", srcs[0], srcs[1])
	}
	conn.Close()
	if _, err := r.Read(); !IsClosed(err) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestAddrNetIP(t *testing.T) {
	v4 := Addr{Family: unix.AF_INET, IP: [16]byte{192, 0, 2, 7}}
	mapped := Addr{Family: unix.AF_INET6, IP: [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 7}}
	want := netip.MustParseAddr("192.0.2.7")
	if v4.NetIP() != want || mapped.NetIP() != want {
		t.Fatalf("%v %v, want %v", v4.NetIP(), mapped.NetIP(), want)
	}
	v6 := Addr{Family: unix.AF_INET6, IP: netip.MustParseAddr("2001:db8::1").As16()}
	if v6.NetIP() != netip.MustParseAddr("2001:db8::1") {
		t.Fatalf("%v", v6.NetIP())
	}
	if n := testing.AllocsPerRun(100, func() { _ = mapped.NetIP() }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
