package netguard

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// AllowList is what an operator lets the daemon reach despite the policy:
// IP prefixes, and host names whose addresses are all allowed (for a
// storage server on a private network known by name).
type AllowList struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

// ParseAllowList reads a comma-separated list of entries, each an IP
// address ("127.0.0.1", "::1"), a CIDR prefix ("10.0.0.0/8",
// "fd00::/8") or a DNS host name ("minio.internal"). Spaces around
// entries and empty entries are ignored; names are case-insensitive and
// a trailing dot is dropped. IPv4-mapped IPv6 entries ("::ffff:10.0.0.0/104")
// are stored as the IPv4 prefix they map, because addresses are unmapped
// before they are compared.
func ParseAllowList(s string) (AllowList, error) {
	var a AllowList
	for _, raw := range strings.Split(s, ",") {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil || p.Addr().Zone() != "" {
				return AllowList{}, fmt.Errorf("%w: %q is not a CIDR prefix such as 10.0.0.0/8", ErrBadAllowList, e)
			}
			a.prefixes = append(a.prefixes, unmapPrefix(p))
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil {
			if ip.Zone() != "" {
				return AllowList{}, fmt.Errorf("%w: %q has a zone", ErrBadAllowList, e)
			}
			ip = ip.Unmap()
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		name, ok := hostName(e)
		if !ok {
			return AllowList{}, fmt.Errorf("%w: %q is not an IP address, a CIDR prefix or a host name", ErrBadAllowList, e)
		}
		if a.hosts == nil {
			a.hosts = map[string]bool{}
		}
		a.hosts[name] = true
	}
	return a, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// hostName checks DNS name syntax (letters, digits, hyphens, dots; labels
// of 1 to 63 bytes, 253 in all) and returns the name in canonical form.
// A last label of digits only is refused: "10.0.0" is a typo of an
// address, not a name.
func hostName(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" || len(s) > 253 {
		return "", false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "", false
	}
	return s, true
}

// Empty reports whether the list allows nothing.
func (a AllowList) Empty() bool { return len(a.prefixes) == 0 && len(a.hosts) == 0 }

// String is the canonical form of the list, which ParseAllowList reads
// back to the same list.
func (a AllowList) String() string {
	var out []string
	for _, p := range a.prefixes {
		out = append(out, p.String())
	}
	var names []string
	for h := range a.hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	return strings.Join(append(out, names...), ",")
}

func (a AllowList) allowsAddr(ip netip.Addr) bool {
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (a AllowList) allowsHost(host string) bool {
	if len(a.hosts) == 0 {
		return false
	}
	name, ok := hostName(host)
	return ok && a.hosts[name]
}
