// Package connlimit bounds the TCP connections an HTTP server holds: in
// total, per client address (an IPv4 address, or an IPv6 /64, which is
// what one subscriber usually gets) and against a descriptor reserve, so
// that a crowd of clients can neither exhaust the process's descriptors
// nor its memory.
//
// It is a net.Listener wrapper: a connection over budget is answered with
// a fixed refusal (a minimal 503) and closed inside Accept, before the
// HTTP server ever sees it, so it costs nothing beyond the accept itself.
// When a budget is full, the connection that has been idle longest (a
// keep-alive connection between requests, or one that has not finished
// sending its first request) is closed to make room: of the same address
// when the address is at its share, of anyone when the total or the
// descriptors are short. Idle connections are what a flood is made of;
// a client with a request being served is never cut off for a newcomer,
// and a connection is refused only when every one in its way is busy.
package connlimit
