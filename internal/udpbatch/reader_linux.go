package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the largest datagram read; anything longer comes back
// truncated (MSG_TRUNC).
const MaxDatagram = 2048

// maxGROMessage is the largest message a GRO reader can be handed: the
// kernel merges datagrams up to the IP packet limit.
const maxGROMessage = 65535

// groBatch bounds a GRO reader's batch: each message slot is 64 KB, and a
// message holds many datagrams.
const groBatch = 16

// Reader reads up to its batch size of datagrams per recvmmsg(2) call into
// preallocated buffers. After construction it allocates nothing.
type Reader struct {
	rc    syscall.RawConn
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	ctrl  []byte // one control-message slot per message (GRO readers)
	segs  []int  // each message's GRO segment size, 0 if not merged
	gro   bool
	n     int
	errno syscall.Errno
	// readFn is built once: a closure made per call would allocate.
	readFn func(fd uintptr) bool
}

// ReaderOption configures NewReader.
type ReaderOption func(*Reader)

// WithGRO asks the kernel for UDP generic receive offload (UDP_GRO):
// consecutive datagrams of one flow and one size (a video frame's
// fragments) come up as one message, one pass through the receive path
// and one queue entry instead of one each. SegmentSize tells a merged
// message's datagram size; every datagram is still seen on its own. On
// kernels without UDP_GRO the reader works as without the option.
func WithGRO() ReaderOption { return func(b *Reader) { b.gro = true } }

var groCtrlSpace = unix.CmsgSpace(4)

// NewReader makes a reader of conn returning up to batch messages a call
// (at most 16 with GRO, whose message slots are 64 KB each).
func NewReader(conn *net.UDPConn, batch int, opts ...ReaderOption) (*Reader, error) {
	if batch <= 0 {
		batch = 64
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &Reader{rc: rc}
	for _, o := range opts {
		o(b)
	}
	size := MaxDatagram
	if b.gro {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
		}); err != nil {
			return nil, err
		}
		if serr != nil {
			b.gro = false // an old kernel: plain datagrams
		}
	}
	if b.gro {
		batch = min(batch, groBatch)
		size = maxGROMessage
		b.ctrl = make([]byte, batch*groCtrlSpace)
	}
	b.msgs = make([]unix.Mmsghdr, batch)
	b.iovs = make([]unix.Iovec, batch)
	b.names = make([]unix.RawSockaddrInet6, batch)
	b.bufs = make([][]byte, batch)
	b.segs = make([]int, batch)
	for i := range b.msgs {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		if b.gro {
			b.msgs[i].Hdr.Control = &b.ctrl[i*groCtrlSpace]
		}
	}
	b.readFn = b.recv
	return b, nil
}

// GRO reports whether the kernel merges datagrams for this reader.
func (b *Reader) GRO() bool { return b.gro }

func (b *Reader) recv(fd uintptr) bool {
	for i := range b.msgs {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].Hdr.Flags = 0
		b.msgs[i].Len = 0
		if b.gro {
			b.msgs[i].Hdr.SetControllen(groCtrlSpace)
		}
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
		uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false // not ready: the runtime poller waits for readability
	}
	b.n, b.errno = int(n), errno
	if b.gro && errno == 0 {
		for i := 0; i < b.n; i++ {
			b.segs[i] = groSegment(&b.msgs[i].Hdr)
		}
	}
	return true
}

// groSegment reads the UDP_GRO control message: the size of the datagrams
// a merged message holds (0 when the message is one datagram).
func groSegment(h *unix.Msghdr) int {
	n := int(h.Controllen)
	if n < unix.SizeofCmsghdr || h.Control == nil {
		return 0
	}
	ctrl := unsafe.Slice(h.Control, n)
	for len(ctrl) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		clen := int(c.Len)
		if clen < unix.SizeofCmsghdr || clen > len(ctrl) {
			return 0
		}
		if c.Level == unix.IPPROTO_UDP && c.Type == unix.UDP_GRO && clen >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)])))
		}
		step := unix.CmsgSpace(clen - unix.CmsgLen(0))
		if step > len(ctrl) {
			return 0
		}
		ctrl = ctrl[step:]
	}
	return 0
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

// Datagram returns the i-th message of the last Read, whether the kernel
// truncated it, and its source. data is valid until the next Read. A GRO
// reader's message may hold several datagrams back to back: see
// SegmentSize.
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

// NetIP is a's IP address, an IPv4-mapped IPv6 address as plain IPv4. It
// does not allocate.
func (a Addr) NetIP() netip.Addr {
	if a.Family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(a.IP[:4]))
	}
	return netip.AddrFrom16(a.IP).Unmap()
}

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

// Size returns the length of the i-th message of the last Read without
// looking at its source.
func (b *Reader) Size(i int) int { return int(b.msgs[i].Len) }

// SegmentSize returns the size of the datagrams the kernel merged into the
// i-th message of the last Read (the last one may be shorter), or 0 when
// the message is a single datagram.
func (b *Reader) SegmentSize(i int) int {
	if seg := b.segs[i]; seg > 0 && seg < int(b.msgs[i].Len) {
		return seg
	}
	return 0
}

// Count returns how many datagrams the i-th message of the last Read holds.
func (b *Reader) Count(i int) int {
	seg := b.SegmentSize(i)
	if seg == 0 {
		return 1
	}
	return (int(b.msgs[i].Len) + seg - 1) / seg
}

// UDPAddr converts a to a net.UDPAddr (it allocates: not for the packet
// path).
func (a Addr) UDPAddr() *net.UDPAddr {
	port := int(a.Port>>8 | a.Port<<8) // network to host byte order
	if a.Family == unix.AF_INET {
		return &net.UDPAddr{IP: net.IPv4(a.IP[0], a.IP[1], a.IP[2], a.IP[3]), Port: port}
	}
	return &net.UDPAddr{IP: net.IP(append([]byte(nil), a.IP[:]...)), Port: port}
}
