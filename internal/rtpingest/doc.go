// Package rtpingest owns the plain RTP/UDP ingest: one socket per port of
// ARS_RTP_PORTS, each read in batches by its own goroutine, packets checked
// and demultiplexed by SSRC to their participant, with each SSRC pinned to
// the source address of its first packet.
//
// It reads with its own recvmmsg(2) loop rather than x/net's ReadBatch:
// ReadBatch allocates a *net.UDPAddr for every datagram, and the packet
// path here must not allocate.
package rtpingest
