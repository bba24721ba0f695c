package floor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ars-project/ars/internal/udpbatch"
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
// one reader per port, batch datagrams per call; with gro, the kernel
// merges a sender's back-to-back datagrams as it does for the daemon.
func Listen(host string, ports []int, rcvbuf, batch int, gro bool) (*Receiver, error) {
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
		udpbatch.SetReadBuffer(c, rcvbuf)
		r.conns = append(r.conns, c)
	}
	for _, c := range r.conns {
		var opts []udpbatch.ReaderOption
		if gro {
			opts = append(opts, udpbatch.WithGRO())
		}
		br, err := udpbatch.NewReader(c, batch, opts...)
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

func (r *Receiver) loop(b *udpbatch.Reader) {
	defer r.wg.Done()
	for {
		n, err := b.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var sz, pkts uint64
		for i := 0; i < n; i++ {
			sz += uint64(b.Size(i))
			pkts += uint64(b.Count(i))
		}
		// One atomic add per batch, not per packet: the floor must be
		// the cheapest possible honest receiver.
		r.packets.Add(pkts)
		r.bytes.Add(sz)
		r.reads.Add(1)
	}
}
