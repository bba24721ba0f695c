// Package udpbatch owns batched UDP reception: a recvmmsg(2) loop over
// preallocated buffers that allocates nothing per datagram, and the
// receive-buffer sizing every ingest socket gets. The RTP ingest and the
// benchmark's bare receiver (the floor it is measured against) share it,
// so the comparison is of the work done per packet, not of the read loop.
//
// It is not x/net's ReadBatch: that allocates a *net.UDPAddr per datagram.
package udpbatch
