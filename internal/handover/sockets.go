package handover

import (
	"log/slog"
	"net"
	"os"

	"github.com/coreos/go-systemd/v22/activation"
)

// Sockets are the inherited sockets, by local port.
type Sockets struct {
	udp map[int]*net.UDPConn
}

// Inherited takes the sockets passed to this process (none outside socket
// activation) and clears the activation variables, so that a child
// process does not take them too. A passed descriptor that is not a UDP
// socket is closed and logged.
func Inherited(log *slog.Logger) *Sockets {
	log = log.With("component", "handover")
	s := &Sockets{udp: map[int]*net.UDPConn{}}
	for _, f := range activation.Files(true) {
		s.add(f, log)
	}
	if len(s.udp) > 0 {
		log.Info("inherited sockets", "udp", len(s.udp))
	}
	return s
}

func (s *Sockets) add(f *os.File, log *slog.Logger) {
	defer f.Close() // FilePacketConn dups it
	pc, err := net.FilePacketConn(f)
	if err != nil {
		log.Warn("an inherited descriptor is not a datagram socket; ignored", "name", f.Name(), "err", err)
		return
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		log.Warn("an inherited datagram socket is not UDP; ignored", "name", f.Name())
		return
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	if old := s.udp[port]; old != nil {
		_ = old.Close()
	}
	s.udp[port] = uc
}

// UDP gives the inherited socket bound to host:port, once (nil if none).
// A socket on another address (a unit listening on every address for a
// daemon told to bind one) is not taken: it would receive what the
// configuration keeps out. It is closed with the unclaimed ones.
func (s *Sockets) UDP(host string, port int) *net.UDPConn {
	if s == nil {
		return nil
	}
	c := s.udp[port]
	if c == nil || !sameHost(c.LocalAddr().(*net.UDPAddr).IP, host) {
		return nil
	}
	delete(s.udp, port)
	return c
}

// sameHost reports whether a socket bound to ip serves the configured
// bind host (empty, 0.0.0.0 or :: mean every address).
func sameHost(ip net.IP, host string) bool {
	want := net.ParseIP(host)
	if host == "" || (want != nil && want.IsUnspecified()) {
		return ip.IsUnspecified()
	}
	return want != nil && want.Equal(ip)
}

// Count is how many UDP sockets are still unclaimed.
func (s *Sockets) Count() int { return len(s.udp) }

// Close closes the sockets nobody claimed (ports outside ARS_RTP_PORTS).
func (s *Sockets) Close() {
	for p, c := range s.udp {
		_ = c.Close()
		delete(s.udp, p)
	}
}
