// Package rtpreorder puts one RTP stream's packets back into sequence
// order before they are depacketized.
//
// It owns the reorder window: holding packets that arrived early, dropping
// duplicates and packets whose place was already given up, and deciding
// when to stop waiting for a missing packet (the packets behind it have
// waited one window of arrival time, or the slots are full), in which case
// the next packet is emitted with a gap flag. Sequence number unwrapping
// and everything after ordering belong to the callers: the capture
// converter (package transcode) and the live HLS writer (package hls).
package rtpreorder
