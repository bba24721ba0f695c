package netguard

import "net/netip"

// special is one refused range and why.
type special struct {
	prefix netip.Prefix
	reason string
	// embedded, for IPv6 ranges that carry an IPv4 address (NAT64,
	// 6to4), is where it starts; the embedded address decides instead.
	embedded int
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// refusedRanges are the IANA special-purpose ranges (RFC 6890 and its
// updates) a server on the public internet has no business connecting
// to for a user. Order matters only for the reason given: the narrower
// range comes first.
var refusedRanges = []special{
	{prefix: mustPrefix("0.0.0.0/8"), reason: "unspecified (this network)"},
	{prefix: mustPrefix("10.0.0.0/8"), reason: "private"},
	{prefix: mustPrefix("100.64.0.0/10"), reason: "shared address space (CGNAT)"},
	{prefix: mustPrefix("127.0.0.0/8"), reason: "loopback"},
	{prefix: mustPrefix("169.254.0.0/16"), reason: "link-local"},
	{prefix: mustPrefix("172.16.0.0/12"), reason: "private"},
	{prefix: mustPrefix("192.0.0.0/24"), reason: "IETF protocol assignment"},
	{prefix: mustPrefix("192.0.2.0/24"), reason: "documentation"},
	{prefix: mustPrefix("192.88.99.0/24"), reason: "6to4 relay anycast"},
	{prefix: mustPrefix("192.168.0.0/16"), reason: "private"},
	{prefix: mustPrefix("198.18.0.0/15"), reason: "benchmarking"},
	{prefix: mustPrefix("198.51.100.0/24"), reason: "documentation"},
	{prefix: mustPrefix("203.0.113.0/24"), reason: "documentation"},
	{prefix: mustPrefix("224.0.0.0/4"), reason: "multicast"},
	{prefix: mustPrefix("255.255.255.255/32"), reason: "broadcast"},
	{prefix: mustPrefix("240.0.0.0/4"), reason: "reserved"},

	{prefix: mustPrefix("::/128"), reason: "unspecified"},
	{prefix: mustPrefix("::1/128"), reason: "loopback"},
	{prefix: mustPrefix("::/96"), reason: "IPv4-compatible (deprecated)"},
	{prefix: mustPrefix("64:ff9b::/96"), embedded: 12},
	{prefix: mustPrefix("64:ff9b:1::/48"), reason: "local-use NAT64"},
	{prefix: mustPrefix("100::/64"), reason: "discard-only"},
	{prefix: mustPrefix("2001:db8::/32"), reason: "documentation"},
	{prefix: mustPrefix("2001::/23"), reason: "IETF protocol assignment (Teredo, ORCHID, ...)"},
	{prefix: mustPrefix("2002::/16"), embedded: 2},
	{prefix: mustPrefix("fc00::/7"), reason: "unique local (private)"},
	{prefix: mustPrefix("fe80::/10"), reason: "link-local"},
	{prefix: mustPrefix("fec0::/10"), reason: "site-local (deprecated)"},
	{prefix: mustPrefix("ff00::/8"), reason: "multicast"},
}

// Refused reports whether the policy refuses ip, without an allow-list,
// and why. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the
// IPv4 address they carry, as are NAT64 and 6to4 addresses.
func Refused(ip netip.Addr) (reason string, refused bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	ip = ip.WithZone("").Unmap()
	for _, r := range refusedRanges {
		if !r.prefix.Contains(ip) {
			continue
		}
		if r.embedded > 0 {
			b := ip.As16()
			v4 := netip.AddrFrom4([4]byte(b[r.embedded : r.embedded+4]))
			if why, bad := Refused(v4); bad {
				return "embeds " + v4.String() + ": " + why, true
			}
			return "", false
		}
		return r.reason, true
	}
	return "", false
}
