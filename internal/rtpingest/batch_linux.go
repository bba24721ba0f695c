package rtpingest

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxDatagram is the largest datagram read; anything longer is truncated by
// the kernel (MSG_TRUNC) and dropped as oversize.
const maxDatagram = 2048

// batchReader reads up to len(msgs) datagrams per recvmmsg(2) call into
// preallocated buffers. After a successful read it allocates nothing.
type batchReader struct {
	rc    syscall.RawConn
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	n     int
	errno syscall.Errno
	// readFn is built once: a closure made per call would allocate.
	readFn func(fd uintptr) bool
}

func newBatchReader(conn *net.UDPConn, batch int) (*batchReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchReader{
		rc:    rc,
		msgs:  make([]unix.Mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		bufs:  make([][]byte, batch),
	}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, maxDatagram)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(maxDatagram)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.readFn = b.recv
	return b, nil
}

func (b *batchReader) recv(fd uintptr) bool {
	for i := range b.msgs {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].Hdr.Flags = 0
		b.msgs[i].Len = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
		uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false // not ready: the runtime poller waits for readability
	}
	b.n, b.errno = int(n), errno
	return true
}

// read blocks until at least one datagram arrives and returns how many.
func (b *batchReader) read() (int, error) {
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// datagram returns the i-th datagram of the last read, whether the kernel
// truncated it, and its source.
func (b *batchReader) datagram(i int) (data []byte, truncated bool, src addrKey) {
	m := &b.msgs[i]
	name := &b.names[i]
	switch name.Family {
	case unix.AF_INET:
		v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		src.family = unix.AF_INET
		copy(src.ip[:4], v4.Addr[:])
		src.port = v4.Port
	case unix.AF_INET6:
		src.family = unix.AF_INET6
		src.ip = name.Addr
		src.port = name.Port
	}
	return b.bufs[i][:m.Len], m.Hdr.Flags&unix.MSG_TRUNC != 0, src
}

// addrKey is a comparable, allocation-free source address (port kept in
// network byte order as the kernel gives it).
type addrKey struct {
	ip     [16]byte
	port   uint16
	family uint16
}

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }
