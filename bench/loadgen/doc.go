// Package loadgen owns the benchmark load: real media encoded once by
// ffmpeg and kept as a capture file, participants opened through the
// daemon's real HTTP API (keys, join, start, stop), and paced RTP sent
// with SSRC, sequence number and timestamp rewritten per stream. It
// reports what it sent, per stream, so that a run can compare it with
// what the daemon recorded.
//
// The sender must never be what limits a capacity run. On loopback the
// sender's system call also runs the receiver's half of the network
// stack, so the cost that matters is per kernel send, not per byte:
//   - a worker finds its due streams on a timing wheel of 1 ms slots and
//     sends everything due by one reading of the clock in one round;
//   - each worker has a socket connected to each destination port (no
//     route lookup per datagram) and sends a round with one sendmmsg per
//     port, made raw since the socket never blocks;
//   - datagrams to one port of one size (a video frame's fragments, the
//     last one shorter; equal audio packets of several streams) go as one
//     UDP GSO message, which the kernel splits into ordinary datagrams
//     before the receiving socket, keeping each stream in order;
//   - a datagram is its rewritten 12-byte header plus the track's packet
//     by reference (two iovecs): no copy and no allocation per packet.
//
// It reports how late it fell behind its schedule so a run can tell when
// it was the bottleneck after all.
package loadgen
