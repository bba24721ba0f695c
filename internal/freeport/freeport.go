package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
)

// ErrNoRange means no run of free UDP ports was found.
var ErrNoRange = errors.New("no free UDP port range on loopback")

// TCP asks the kernel for an unused loopback TCP port.
func TCP() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// UDPRange finds n consecutive bindable UDP ports on loopback and returns
// the first and the last.
func UDPRange(n int) (first, last int, err error) {
	for range 50 {
		base := 20000 + rand.IntN(30000)
		var held []*net.UDPConn
		ok := true
		for p := base; p < base+n; p++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return base, base + n - 1, nil
		}
	}
	return 0, 0, ErrNoRange
}
