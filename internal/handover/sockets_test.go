package handover

import (
	"log/slog"
	"net"
	"os"
	"testing"
)

func TestSockets(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	bind := func(ip string) (*net.UDPConn, *os.File) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		return c, f
	}
	loop, lf := bind("127.0.0.1")
	every, af := bind("0.0.0.0")
	s := &Sockets{udp: map[int]*net.UDPConn{}}
	s.add(lf, quiet)
	s.add(af, quiet)
	// Not a socket: ignored.
	nf, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	s.add(nf, quiet)
	lp, ap := loop.LocalAddr().(*net.UDPAddr).Port, every.LocalAddr().(*net.UDPAddr).Port
	if s.Count() != 2 {
		t.Fatalf("count %d, want 2", s.Count())
	}
	if c := s.UDP("127.0.0.1", ap); c != nil {
		t.Fatal("a socket on every address was given to a daemon told to bind loopback")
	}
	if c := s.UDP("", lp); c != nil {
		t.Fatal("a loopback socket was given to a daemon told to bind every address")
	}
	if c := s.UDP("127.0.0.1", lp); c == nil || c.LocalAddr().(*net.UDPAddr).Port != lp {
		t.Fatalf("loopback socket not given: %v", c)
	} else {
		c.Close()
	}
	if c := s.UDP("127.0.0.1", lp); c != nil {
		t.Fatal("a socket was given twice")
	}
	if c := s.UDP("0.0.0.0", ap); c == nil {
		t.Fatal("the every-address socket not given")
	} else {
		c.Close()
	}
	s.Close()
	if s.Count() != 0 {
		t.Fatal("close left sockets")
	}
	if (*Sockets)(nil).UDP("", 1) != nil {
		t.Fatal("nil Sockets gave a socket")
	}
}
