package cluster

import (
	"net"
	"net/netip"
)

// DefaultAddress is ARS_NODE_ADDRESS when unset: the public IP setting,
// else a specific bind address (the only one the node listens on), else
// the first non-loopback interface address, else loopback.
func DefaultAddress(publicIP, bindHost string) string {
	if publicIP != "" {
		return publicIP
	}
	if a, err := netip.ParseAddr(bindHost); err == nil && !a.IsUnspecified() {
		return a.String()
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		// IPv4 first: a plain-RTP sender is likelier to reach it.
		for _, want4 := range []bool{true, false} {
			for _, a := range addrs {
				n, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				ip, ok := netip.AddrFromSlice(n.IP)
				if !ok {
					continue
				}
				ip = ip.Unmap()
				if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.Is4() != want4 {
					continue
				}
				return ip.String()
			}
		}
	}
	return "127.0.0.1"
}
