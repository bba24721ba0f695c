// Package floor owns the bare receiver of the capacity benchmark: UDP
// sockets on the daemon's ports, read in recvmmsg batches the same way the
// daemon's ingest reads them, counting packets and bytes and doing nothing
// else. Its CPU per packet is the floor the daemon's packet path is
// measured against: the part of the cost that is the kernel's and the
// runtime's, not the recorder's.
package floor
