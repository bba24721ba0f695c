// Package handover takes the sockets systemd passes to the daemon
// (socket activation: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, from an
// ars.socket unit or any process that plays its part) and hands them to
// the RTP ingest by port. A socket systemd holds outlives the daemon: while
// one instance stops and the next starts, the kernel keeps queueing the
// packets that arrive on it, so a planned restart loses none of them as
// long as the receive buffer holds them (docs/operations.md).
package handover
