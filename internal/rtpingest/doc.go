// Package rtpingest owns the plain RTP/UDP ingest: one socket per port of
// ARS_RTP_PORTS, each read in batches by its own goroutine, packets checked
// and demultiplexed by SSRC (then, where channels share an SSRC on a port,
// by the source IP the join bound them to) to their participant, with each
// SSRC pinned to the source address of its first packet, and moved to a
// new port of the same IP after a silence (NAT rebinding).
//
// A keyframe loop asks H.264 senders for a keyframe (RTCP PLI) as soon as
// their address is known while their media is taken, and again until one
// arrives; the packet path only watches for the keyframe.
//
// It reads with its own recvmmsg(2) loop rather than x/net's ReadBatch:
// ReadBatch allocates a *net.UDPAddr for every datagram, and the packet
// path here must not allocate.
package rtpingest
