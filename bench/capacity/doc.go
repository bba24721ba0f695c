// Package capacity owns the capacity benchmark: for a channel count it
// runs the real daemon, opens the channels through the API, has loadgen
// send for a fixed time, and then sets what was sent against what the
// daemon wrote (read back from its captures with internal/storage) and
// against the kernel's UDP drop counters. It measures the daemon's CPU
// and memory from /proc, and runs the same load against the bare floor
// receiver for the CPU-per-packet ratio.
package capacity
