package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseAllowList: the parser never panics, its canonical form parses
// back to itself, and what it allows is only what the entries name.
func FuzzParseAllowList(f *testing.F) {
	for _, s := range []string{"127.0.0.1/32", "10.0.0.0/8,minio.internal", "::ffff:10.0.0.0/104", " ,fd00::/8, ", "a.b.c", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowList(s)
		if err != nil {
			return
		}
		again, err := ParseAllowList(a.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", a.String(), s, err)
		}
		if again.String() != a.String() {
			t.Fatalf("canonical form not stable: %q then %q", a.String(), again.String())
		}
		if strings.TrimSpace(strings.ReplaceAll(s, ",", "")) == "" && !a.Empty() {
			t.Fatalf("%q allows something", s)
		}
		for _, p := range a.prefixes {
			if p.Addr().Is4In6() || p != p.Masked() {
				t.Fatalf("%q stored a non-canonical prefix %s", s, p)
			}
		}
		if a.Empty() && a.allowsAddr(netip.MustParseAddr("127.0.0.1")) {
			t.Fatal("an empty list allows loopback")
		}
	})
}

// FuzzRefused: no address makes Refused panic, and an IPv4-mapped
// address is judged as its IPv4 address.
func FuzzRefused(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3})
	f.Add([]byte{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		_, r := Refused(ip)
		if ip.Is4() {
			if _, r6 := Refused(netip.AddrFrom16(ip.As16())); r6 != r {
				t.Fatalf("%s refused=%v but its mapped form refused=%v", ip, r, r6)
			}
		}
	})
}
