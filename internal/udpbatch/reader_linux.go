package udpbatch

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the largest datagram read; anything longer comes back
// truncated (MSG_TRUNC).
const MaxDatagram = 2048

// Reader reads up to its batch size of datagrams per recvmmsg(2) call into
// preallocated buffers. After construction it allocates nothing.
type Reader struct {
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

// NewReader makes a reader of conn returning up to batch datagrams a call.
func NewReader(conn *net.UDPConn, batch int) (*Reader, error) {
	if batch <= 0 {
		batch = 64
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &Reader{
		rc:    rc,
		msgs:  make([]unix.Mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		bufs:  make([][]byte, batch),
	}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, MaxDatagram)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(MaxDatagram)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.readFn = b.recv
	return b, nil
}

func (b *Reader) recv(fd uintptr) bool {
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

// Read blocks until at least one datagram arrives and returns how many.
func (b *Reader) Read() (int, error) {
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// Datagram returns the i-th datagram of the last Read, whether the kernel
// truncated it, and its source. data is valid until the next Read.
func (b *Reader) Datagram(i int) (data []byte, truncated bool, src Addr) {
	m := &b.msgs[i]
	name := &b.names[i]
	switch name.Family {
	case unix.AF_INET:
		v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		src.Family = unix.AF_INET
		copy(src.IP[:4], v4.Addr[:])
		src.Port = v4.Port
	case unix.AF_INET6:
		src.Family = unix.AF_INET6
		src.IP = name.Addr
		src.Port = name.Port
	}
	return b.bufs[i][:m.Len], m.Hdr.Flags&unix.MSG_TRUNC != 0, src
}

// Addr is a comparable, allocation-free source address (Port kept in
// network byte order as the kernel gives it).
type Addr struct {
	IP     [16]byte
	Port   uint16
	Family uint16
}

// SameHost reports whether a and b are the same IP address.
func (a Addr) SameHost(b Addr) bool { return a.Family == b.Family && a.IP == b.IP }

// IsClosed reports whether a Read error means the socket was closed.
func IsClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// SetReadBuffer asks for n bytes of receive buffer, forcing past
// net.core.rmem_max when privileged, and returns what the kernel granted
// (the kernel reports double the usable size; half is returned).
func SetReadBuffer(conn *net.UDPConn, n int) int {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	granted := 0
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			granted = v / 2
		}
	})
	return granted
}

// Size returns the length of the i-th datagram of the last Read without
// looking at its source.
func (b *Reader) Size(i int) int { return int(b.msgs[i].Len) }

// UDPAddr converts a to a net.UDPAddr (it allocates: not for the packet
// path).
func (a Addr) UDPAddr() *net.UDPAddr {
	port := int(a.Port>>8 | a.Port<<8) // network to host byte order
	if a.Family == unix.AF_INET {
		return &net.UDPAddr{IP: net.IPv4(a.IP[0], a.IP[1], a.IP[2], a.IP[3]), Port: port}
	}
	return &net.UDPAddr{IP: net.IP(append([]byte(nil), a.IP[:]...)), Port: port}
}
