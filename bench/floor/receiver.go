package floor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Counts is what the receiver saw.
type Counts struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Reads   uint64 `json:"reads"` // recvmmsg calls that returned data
}

// Receiver counts datagrams on a set of UDP ports.
type Receiver struct {
	conns   []*net.UDPConn
	packets atomic.Uint64
	bytes   atomic.Uint64
	reads   atomic.Uint64
	wg      sync.WaitGroup
}

// Listen binds every port on host with a receive buffer of rcvbuf bytes
// (forced past rmem_max when privileged, as the daemon does) and starts
// one reader per port, batch datagrams per call.
func Listen(host string, ports []int, rcvbuf, batch int) (*Receiver, error) {
	if len(ports) == 0 {
		return nil, ErrNoPorts
	}
	r := &Receiver{}
	for _, p := range ports {
		ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("floor: %w", err)
		}
		c, err := net.ListenUDP("udp", ua)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("floor: port %d: %w", p, err)
		}
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
				}
			})
		}
		r.conns = append(r.conns, c)
	}
	for _, c := range r.conns {
		br, err := newBatch(c, batch)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.wg.Add(1)
		go r.loop(br)
	}
	return r, nil
}

// Ports returns the bound ports.
func (r *Receiver) Ports() []int {
	out := make([]int, 0, len(r.conns))
	for _, c := range r.conns {
		out = append(out, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return out
}

// Counts returns what has been received so far.
func (r *Receiver) Counts() Counts {
	return Counts{Packets: r.packets.Load(), Bytes: r.bytes.Load(), Reads: r.reads.Load()}
}

// Close stops the readers and closes the sockets.
func (r *Receiver) Close() {
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.wg.Wait()
}

func (r *Receiver) loop(b *batch) {
	defer r.wg.Done()
	for {
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var sz uint64
		for i := 0; i < n; i++ {
			sz += uint64(b.msgs[i].Len)
		}
		// One atomic add per batch, not per packet: the floor must be
		// the cheapest possible honest receiver.
		r.packets.Add(uint64(n))
		r.bytes.Add(sz)
		r.reads.Add(1)
	}
}

// batch is a recvmmsg(2) reader with preallocated buffers and source
// address slots, like the daemon's.
type batch struct {
	rc    syscall.RawConn
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newBatch(c *net.UDPConn, size int) (*batch, error) {
	if size <= 0 {
		size = 64
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batch{rc: rc, msgs: make([]unix.Mmsghdr, size), iovs: make([]unix.Iovec, size),
		names: make([]unix.RawSockaddrInet6, size), bufs: make([][]byte, size)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, 2048)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(2048)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.fn = b.recv
	return b, nil
}

func (b *batch) recv(fd uintptr) bool {
	for i := range b.msgs {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].Len = 0
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.n, b.errno = int(n), e
	return true
}

func (b *batch) read() (int, error) {
	if err := b.rc.Read(b.fn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}
