// Package connlimit bounds the TCP connections an HTTP server holds: in
// total, per client address (an IPv4 address, or an IPv6 /64, which is
// what one subscriber usually gets) and against a descriptor reserve, so
// that a crowd of clients can neither exhaust the process's descriptors
// nor its memory.
//
// It is a net.Listener wrapper: a connection over budget is answered with
// a fixed refusal (a minimal 503) and closed inside Accept, before the
// HTTP server ever sees it, so it costs nothing beyond the accept itself.
// When the total or the descriptor budget is full, the connection that has
// been idle longest (a keep-alive connection between requests, or one that
// has not sent a request yet) is closed to make room: idle connections are
// what a flood is made of, and a client with a request in flight is never
// cut off for a newcomer.
package connlimit
