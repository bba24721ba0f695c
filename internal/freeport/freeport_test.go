package freeport

import (
	"net"
	"testing"
)

func TestPortsAreFree(t *testing.T) {
	p, err := TCP()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(p)))
	if err != nil {
		t.Fatalf("port %d not bindable: %v", p, err)
	}
	ln.Close()
	first, last, err := UDPRange(4)
	if err != nil || last-first != 3 {
		t.Fatalf("range %d-%d: %v", first, last, err)
	}
	for q := first; q <= last; q++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: q})
		if err != nil {
			t.Fatalf("udp %d not bindable: %v", q, err)
		}
		c.Close()
	}
}

func itoa(n int) string { return (&net.TCPAddr{Port: n}).String()[1:] }
