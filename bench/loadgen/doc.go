// Package loadgen owns the benchmark load: real media encoded once by
// ffmpeg and kept as a capture file, participants opened through the
// daemon's real HTTP API (keys, join, start, stop), and paced RTP sent in
// batches (sendmmsg) with SSRC, sequence number and timestamp rewritten per
// stream. It reports what it sent, per stream, so that a run can compare
// it with what the daemon recorded.
//
// The sender must never be what limits a capacity run: it keeps all
// per-packet work to a copy and three header writes, sends up to a batch
// of datagrams per system call, and reports how late it fell behind its
// schedule so a run can tell when it was the bottleneck after all.
package loadgen
