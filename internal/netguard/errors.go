package netguard

import "errors"

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
