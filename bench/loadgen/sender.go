package loadgen

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SendOptions configure Send. Zero values get defaults.
type SendOptions struct {
	Host     string        // destination IPv4 address; default 127.0.0.1
	Duration time.Duration // how long to send; default 10s
	Workers  int           // sending goroutines, one socket each; default 2
	Batch    int           // datagrams per sendmmsg; default 256
	// Quantum is the least a worker sleeps between rounds: a longer one
	// makes larger batches at the price of up to that much lateness.
	Quantum time.Duration // default 1ms
	Seed    uint64        // picks each stream's phase and start delay
}

func (o SendOptions) withDefaults() SendOptions {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Quantum <= 0 {
		o.Quantum = time.Millisecond
	}
	return o
}

// Report is what Send sent.
type Report struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"durationNs"`
	// Elapsed is the wall time Send took (at least Duration).
	Elapsed    time.Duration  `json:"elapsedNs"`
	Workers    int            `json:"workers"`
	Packets    uint64         `json:"packets"`
	Bytes      uint64         `json:"bytes"`
	SendErrors uint64         `json:"sendErrors"`
	Syscalls   uint64         `json:"syscalls"`
	MaxLate    time.Duration  `json:"maxLateNs"`
	MeanLate   time.Duration  `json:"meanLateNs"`
	Late10ms   uint64         `json:"late10ms"` // packets sent more than 10 ms after due
	Streams    []StreamReport `json:"streams"`
}

// Send plays tracks to every target for o.Duration: a video and an audio
// stream each, paced as the encoder produced them, in sendmmsg batches.
func Send(ctx context.Context, tracks Tracks, targets []Target, o SendOptions) (*Report, error) {
	o = o.withDefaults()
	if len(targets) == 0 {
		return nil, ErrNoParticipants
	}
	ip := net.ParseIP(o.Host).To4()
	if ip == nil {
		return nil, fmt.Errorf("loadgen: %q is not an IPv4 address", o.Host)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	dsts := map[int]*unix.RawSockaddrInet4{}
	workers := make([]*worker, o.Workers)
	for i := range workers {
		w, err := newWorker(o.Batch)
		if err != nil {
			for _, w := range workers[:i] {
				w.close()
			}
			return nil, err
		}
		workers[i] = w
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for i, tg := range targets {
		dst := dsts[tg.Port]
		if dst == nil {
			dst = &unix.RawSockaddrInet4{Family: unix.AF_INET}
			copy(dst.Addr[:], ip)
			// The port is stored in network byte order.
			dst.Port = uint16(tg.Port>>8) | uint16(tg.Port&0xff)<<8
			dsts[tg.Port] = dst
		}
		// A participant's streams share a worker, hence a source address,
		// as they would share a sender's socket.
		w := workers[i%len(workers)]
		for _, spec := range []struct {
			t    *Track
			ssrc uint32
		}{{tracks.Video, tg.VideoSSRC}, {tracks.Audio, tg.AudioSSRC}} {
			s := &stream{
				t: spec.t, ssrc: spec.ssrc, dst: dst,
				seq0:  uint16(rng.Uint32()),
				ts0:   rng.Uint32(),
				phase: rng.IntN(len(spec.t.Packets)),
				delay: time.Duration(rng.Int64N(int64(20 * time.Millisecond))),
				rep:   StreamReport{Channel: tg.Channel, UID: tg.UID, Kind: spec.t.Info.Kind, SSRC: spec.ssrc, Port: tg.Port},
			}
			s.due = s.dueAt(0)
			w.streams = append(w.streams, s)
		}
	}
	rep := &Report{Started: time.Now(), Duration: o.Duration, Workers: o.Workers}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.run(ctx, start, o.Duration, o.Quantum)
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	var lateSum time.Duration
	for _, w := range workers {
		rep.Packets += w.packets
		rep.Bytes += w.bytes
		rep.SendErrors += w.sendErrors
		rep.Syscalls += w.syscalls
		rep.Late10ms += w.late10ms
		lateSum += w.lateSum
		rep.MaxLate = max(rep.MaxLate, w.maxLate)
		for _, s := range w.streams {
			rep.Streams = append(rep.Streams, s.rep)
		}
	}
	if rep.Packets > 0 {
		rep.MeanLate = lateSum / time.Duration(rep.Packets)
	}
	for _, err := range errs {
		if err != nil {
			return rep, err
		}
	}
	return rep, ctx.Err()
}

// worker sends its streams from one socket.
type worker struct {
	conn    *net.UDPConn
	rc      syscall.RawConn
	streams []*stream
	msgs    []unix.Mmsghdr
	iovs    []unix.Iovec
	bufs    [][]byte
	owners  []*stream // which stream each queued message belongs to
	queued  int

	packets, bytes, sendErrors, syscalls, late10ms uint64
	lateSum, maxLate                               time.Duration
	// sendFn is built once: a closure made per call would allocate.
	sendFn  func(fd uintptr) bool
	sendOff int
	sent    int
	errno   syscall.Errno
}

func newWorker(batch int) (*worker, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("loadgen socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	w := &worker{conn: conn, rc: rc,
		msgs: make([]unix.Mmsghdr, batch), iovs: make([]unix.Iovec, batch),
		bufs: make([][]byte, batch), owners: make([]*stream, batch)}
	for i := range w.msgs {
		w.bufs[i] = make([]byte, 1500)
		w.iovs[i].Base = &w.bufs[i][0]
		w.msgs[i].Hdr.Iov = &w.iovs[i]
		w.msgs[i].Hdr.SetIovlen(1)
		w.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
	w.sendFn = w.send
	return w, nil
}

func (w *worker) close() { _ = w.conn.Close() }

func (w *worker) run(ctx context.Context, start time.Time, dur, quantum time.Duration) error {
	// The heap reorders its slice; w.streams keeps the report order.
	h := streamHeap(append([]*stream(nil), w.streams...))
	for i, s := range h {
		s.index = i
	}
	heap.Init(&h)
	for h.Len() > 0 {
		if ctx.Err() != nil {
			break
		}
		now := time.Since(start)
		for h.Len() > 0 && h[0].due <= now {
			s := h[0]
			if s.due >= dur {
				heap.Pop(&h)
				continue
			}
			w.queue(s, now-s.due)
			s.n++
			s.due = s.dueAt(s.n)
			heap.Fix(&h, 0)
			if w.queued == len(w.msgs) {
				if err := w.flush(); err != nil {
					return err
				}
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		if h.Len() == 0 {
			break
		}
		wait := max(h[0].due-time.Since(start), quantum)
		time.Sleep(wait)
	}
	return nil
}

func (w *worker) queue(s *stream, late time.Duration) {
	i := w.queued
	n := s.build(w.bufs[i], s.n)
	w.iovs[i].SetLen(n)
	w.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(s.dst))
	w.owners[i] = s
	w.queued++
	w.lateSum += late
	w.maxLate = max(w.maxLate, late)
	if late > 10*time.Millisecond {
		w.late10ms++
	}
}

func (w *worker) send(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.msgs[w.sendOff])),
		uintptr(w.queued-w.sendOff), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	w.sent, w.errno = int(r), e
	return true
}

// flush sends every queued datagram and credits each to its stream.
func (w *worker) flush() error {
	w.sendOff = 0
	for w.sendOff < w.queued {
		if err := w.rc.Write(w.sendFn); err != nil {
			return fmt.Errorf("loadgen send: %w", err)
		}
		w.syscalls++
		if w.errno != 0 {
			// The datagram at sendOff failed (no buffer space, say): count
			// it as not sent and go on with the rest.
			w.sendErrors++
			w.sendOff++
			continue
		}
		for i := w.sendOff; i < w.sendOff+w.sent; i++ {
			s := w.owners[i]
			sz := uint64(w.iovs[i].Len)
			seq := uint16(w.bufs[i][2])<<8 | uint16(w.bufs[i][3])
			if s.rep.Packets == 0 {
				s.rep.FirstSeq = seq
			}
			s.rep.LastSeq = seq
			s.rep.Packets++
			s.rep.Bytes += sz
			w.packets++
			w.bytes += sz
		}
		w.sendOff += w.sent
	}
	w.queued = 0
	return nil
}
