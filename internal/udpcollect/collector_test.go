package udpcollect

import (
	"net"
	"testing"
)

func TestCollectorKeepsOrder(t *testing.T) {
	c, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	s, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.Port()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 100; i++ {
		if _, err := s.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	pkts, err := c.Stop()
	if err != nil || len(pkts) != 100 {
		t.Fatalf("%d packets, %v", len(pkts), err)
	}
	for i, p := range pkts {
		if p[0] != byte(i) {
			t.Fatalf("packet %d is %d", i, p[0])
		}
	}
}
