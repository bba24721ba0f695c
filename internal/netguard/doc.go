// Package netguard is the daemon's one policy for connections it makes to
// addresses an outsider chose (storage endpoints from a Cloud Recording
// start today; background images and web pages later). It refuses
// loopback, link-local, private, shared (CGNAT), multicast, unspecified,
// broadcast and other special-purpose addresses, their IPv4-mapped and
// NAT64 forms, and the daemon's own listening ports, unless an operator
// allow-list names them.
//
// The rule is applied twice: CheckURL resolves a URL's host when the
// request arrives (so the caller gets a clear error before anything is
// sent), and every connection the guard's dialer makes is checked again in
// net.Dialer.Control, which sees the address the socket is about to
// connect to. The second check is the one that matters against DNS
// rebinding: a name that resolved to a public address at start and to
// 127.0.0.1 at upload time is refused at connect time, before a SYN leaves.
package netguard
