package loadgen

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits of one UDP GSO send. Older kernels take at most 64 segments;
// the IPv4 payload limit bounds the bytes.
const (
	maxSegments = 64
	maxGSOBytes = 65535 - 20 - 8
	rtpHeader   = 12 // the part of a packet the sender rewrites
	sndBuf      = 4 << 20
)

// sent is one queued datagram, remembered so that it can be credited to
// its stream once the kernel took it.
type sent struct {
	s    *stream
	data []byte // the track's packet; its header is replaced by hdrs[i]
	seq  uint16
	next int32 // the next datagram of the same message, or -1
}

// message is one sendmmsg entry: one datagram, or several of one size
// (the last may be shorter) as a UDP GSO message.
type message struct {
	head, tail int32
	count      int
	bytes      int
	seg        int
	closed     bool // full, or took a shorter datagram (only the last may be short)
}

// batch queues datagrams for one destination and sends them from a socket
// connected to it (no route lookup per datagram) with sendmmsg. A
// stream's back-to-back datagrams of one size (a video frame's fragments,
// the last possibly shorter) travel as one UDP GSO message: one pass
// through the sender's network stack. The receiving kernel splits it into
// datagrams again, or, for a socket that asked for UDP GRO, hands it up
// whole, as a NIC's GRO would merge those datagrams. A stream's datagrams
// leave in order.
type batch struct {
	conn *net.UDPConn
	rc   syscall.RawConn
	gso  bool

	pkts []sent
	mq   []message
	msgs []unix.Mmsghdr
	iovs []unix.Iovec // two per datagram: its new header, then the rest of the packet straight from the track
	hdrs []byte
	ctrl []byte // a UDP_SEGMENT control message per message slot
	gen  uint64 // counts flushes, to tell a stream's mark from an old one
	nmsg int
	npkt int

	// Counters, read by the worker.
	packets, bytesSent, errs, syscalls, msgsSent, gsoMsgs uint64

	// sendFn is built once: a method value made per call would allocate.
	sendFn func(fd uintptr) bool
	off    int
	done   int
	errno  syscall.Errno
}

var ctrlSpace = unix.CmsgSpace(2)

// newBatch connects a socket to dst with room for n datagrams a call.
func newBatch(dst *net.UDPAddr, n int, gso bool) (*batch, error) {
	conn, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		return nil, fmt.Errorf("loadgen socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	// A bigger send buffer lets a whole batch of GSO messages be in
	// flight; the kernel caps it at wmem_max unless forced.
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
		}
	})
	if gso {
		gso = probeGSO(rc)
	}
	b := &batch{conn: conn, rc: rc, gso: gso,
		pkts: make([]sent, n), mq: make([]message, n),
		msgs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, 2*n), hdrs: make([]byte, rtpHeader*n),
		ctrl: make([]byte, ctrlSpace*n), gen: 1}
	for i := range n {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b.ctrl[ctrlSpace*i]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	b.sendFn = b.send
	return b, nil
}

// probeGSO tells whether the kernel takes UDP_SEGMENT (Linux 4.18+).
func probeGSO(rc syscall.RawConn) bool {
	ok := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

func (b *batch) close() { _ = b.conn.Close() }

// full says the next datagram may not fit.
func (b *batch) full() bool { return b.npkt == len(b.pkts) }

// add queues packet n of s; the caller flushes when full.
func (b *batch) add(s *stream, n uint64) {
	i := int32(b.npkt)
	b.npkt++
	data, seq := s.header(b.hdrs[rtpHeader*int(i):rtpHeader*int(i+1)], n)
	b.pkts[i] = sent{s: s, data: data, seq: seq, next: -1}
	size := len(data)
	// The stream's previous datagram in this batch went in message
	// after: this one may join it (the stream stays in order).
	after := int32(-1)
	if s.gen == b.gen {
		after = s.msg
	}
	m := int32(-1)
	if b.gso {
		m = b.pick(size, after)
	}
	if m < 0 {
		m = int32(b.nmsg)
		b.nmsg++
		b.mq[m] = message{head: i, tail: i, count: 1, bytes: size, seg: size}
	} else {
		q := &b.mq[m]
		b.pkts[q.tail].next = i
		q.tail = i
		q.count++
		q.bytes += size
		if size < q.seg || q.count == maxSegments || q.bytes+q.seg > maxGSOBytes {
			q.closed = true
		}
	}
	s.gen, s.msg = b.gen, m
}

// pick returns the stream's own open message if a datagram of size can
// join it (the same size, or a shorter one that then closes it: a frame's
// last fragment), else -1. A message holds one stream's datagrams only: a
// receiver's kernel merges (GRO) only one flow's back-to-back datagrams,
// and a message mixing streams would hand it a merge no network makes.
func (b *batch) pick(size int, after int32) int32 {
	if after < 0 || b.mq[after].closed {
		return -1
	}
	if q := &b.mq[after]; q.seg >= size {
		return after
	}
	return -1
}

// header writes the rewritten header of packet n into hdr and returns the
// track's packet (whose first rtpHeader bytes hdr replaces) and the
// sequence number.
func (s *stream) header(hdr []byte, n uint64) ([]byte, uint16) {
	idx, loop := s.position(n)
	src := s.t.Packets[idx].Data
	copy(hdr, src[:rtpHeader])
	seq := s.seq0 + uint16(n)
	binary.BigEndian.PutUint16(hdr[2:4], seq)
	binary.BigEndian.PutUint32(hdr[4:8], s.ts0+uint32(loop)*s.t.loopTicks+s.t.tsOff[idx]-s.t.tsOff[s.phase])
	binary.BigEndian.PutUint32(hdr[8:12], s.ssrc)
	return src, seq
}

// prepare lays out each message's datagrams in the iovecs and points
// the message headers at them.
func (b *batch) prepare() {
	k := 0
	for m := range b.nmsg {
		q := &b.mq[m]
		h := &b.msgs[m].Hdr
		h.Iov = &b.iovs[k]
		h.SetIovlen(2 * q.count)
		for p := q.head; p >= 0; p = b.pkts[p].next {
			b.iovs[k].Base = &b.hdrs[rtpHeader*int(p)]
			b.iovs[k].SetLen(rtpHeader)
			if rest := b.pkts[p].data[rtpHeader:]; len(rest) > 0 {
				b.iovs[k+1].Base = &rest[0]
				b.iovs[k+1].SetLen(len(rest))
			} else {
				b.iovs[k+1].Base = nil
				b.iovs[k+1].SetLen(0)
			}
			k += 2
		}
		if q.count > 1 {
			h.Control = &b.ctrl[ctrlSpace*m]
			h.SetControllen(ctrlSpace)
			*(*uint16)(unsafe.Pointer(&b.ctrl[ctrlSpace*m+unix.CmsgLen(0)])) = uint16(q.seg)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
	}
}

// send is one sendmmsg. The socket is non-blocking, so the call never
// waits: it is made raw, without telling the scheduler, which would
// otherwise hand the worker's P to another thread whenever the kernel's
// loopback delivery makes a call last long.
func (b *batch) send(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[b.off])),
		uintptr(b.nmsg-b.off), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.done, b.errno = int(r), e
	return true
}

// flush sends every queued message and credits each datagram the kernel
// took to its stream.
func (b *batch) flush() error {
	if b.nmsg == 0 {
		return nil
	}
	b.prepare()
	b.off = 0
	for b.off < b.nmsg {
		if err := b.rc.Write(b.sendFn); err != nil {
			return fmt.Errorf("loadgen send: %w", err)
		}
		b.syscalls++
		if b.errno != 0 {
			q := &b.mq[b.off]
			if q.count > 1 && gsoRefused(b.errno) {
				// The path cannot segment (a device without checksum
				// offload, say): go on without GSO, datagram by datagram.
				b.gso = false
				if err := b.sendSingly(b.off); err != nil {
					return err
				}
			} else {
				// The message at off failed (no buffer space, say): its
				// datagrams count as not sent; go on with the rest.
				b.errs += uint64(q.count)
			}
			b.off++
			continue
		}
		for m := b.off; m < b.off+b.done; m++ {
			for p := b.mq[m].head; p >= 0; p = b.pkts[p].next {
				b.credit(p)
			}
			b.msgsSent++
			if b.mq[m].count > 1 {
				b.gsoMsgs++
			}
		}
		b.off += b.done
	}
	b.nmsg, b.npkt = 0, 0
	b.gen++
	return nil
}

func gsoRefused(e syscall.Errno) bool {
	return e == unix.EIO || e == unix.EINVAL || e == unix.EOPNOTSUPP || e == unix.ENOPROTOOPT
}

// sendSingly sends the datagrams of message m one message each (the
// iovecs prepare laid out, two per datagram).
func (b *batch) sendSingly(m int) error {
	h := b.msgs[m].Hdr
	var one [1]unix.Mmsghdr
	k := 0
	for p := b.mq[m].head; p >= 0; p = b.pkts[p].next {
		one[0].Hdr = h
		one[0].Hdr.Iov = &unsafe.Slice(h.Iov, 2*b.mq[m].count)[k]
		k += 2
		one[0].Hdr.SetIovlen(2)
		one[0].Hdr.Control = nil
		one[0].Hdr.SetControllen(0)
		var errno syscall.Errno
		err := b.rc.Write(func(fd uintptr) bool {
			_, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&one[0])), 1, 0, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			errno = e
			return true
		})
		if err != nil {
			return fmt.Errorf("loadgen send: %w", err)
		}
		b.syscalls++
		if errno != 0 {
			b.errs++
			continue
		}
		b.credit(p)
	}
	return nil
}

func (b *batch) credit(p int32) {
	d := &b.pkts[p]
	size := uint64(len(d.data))
	r := &d.s.rep
	if r.Packets == 0 {
		r.FirstSeq = d.seq
	}
	r.LastSeq = d.seq
	r.Packets++
	r.Bytes += size
	b.packets++
	b.bytesSent += size
}
