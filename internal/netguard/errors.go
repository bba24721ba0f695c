package netguard

import (
	"errors"
	"net/netip"
)

var (
	// ErrForbiddenAddress means a connection to an address the policy
	// refuses (loopback, private, link-local, the daemon itself, ...).
	ErrForbiddenAddress = errors.New("netguard: forbidden address")
	// ErrBadAllowList means an allow-list entry that is neither an IP, a
	// CIDR prefix nor a host name.
	ErrBadAllowList = errors.New("netguard: bad allow-list entry")
	// ErrBadURL means a URL without an http(s) scheme or a host.
	ErrBadURL = errors.New("netguard: bad URL")
)

// ForbiddenError is a refusal: which address, why, and whether it was
// the daemon's own listener (which no allow-list can open). It matches
// ErrForbiddenAddress with errors.Is.
type ForbiddenError struct {
	Addr netip.AddrPort
	// Host is the name Addr was resolved from; empty for a literal.
	Host   string
	Reason string
	Self   bool
}

func (e *ForbiddenError) Error() string {
	s := "netguard: forbidden address: " + e.Addr.Addr().String() + " is " + e.Reason
	if e.Host != "" {
		s += " (resolved from " + e.Host + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrForbiddenAddress) hold.
func (e *ForbiddenError) Unwrap() error { return ErrForbiddenAddress }
