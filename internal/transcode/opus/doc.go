// Package opus holds what a recorder needs to know of Opus packets without
// decoding them: how long a packet plays (RFC 6716 §3.1) and the packet
// that fills a gap with silence. The MP4 converter and the live HLS writer
// share it.
package opus
