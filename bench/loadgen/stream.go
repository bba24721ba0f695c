package loadgen

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// Target is one participant the sender feeds: where to send and which
// SSRCs it declared.
type Target struct {
	Channel   string `json:"channel"`
	UID       uint32 `json:"uid"`
	ID        string `json:"id,omitempty"`
	Port      int    `json:"port"`
	VideoSSRC uint32 `json:"videoSsrc"`
	AudioSSRC uint32 `json:"audioSsrc"`
}

// StreamReport is what was sent on one stream.
type StreamReport struct {
	Channel string `json:"channel"`
	UID     uint32 `json:"uid"`
	Kind    string `json:"kind"`
	SSRC    uint32 `json:"ssrc"`
	Port    int    `json:"port"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// FirstSeq and LastSeq are the first and last sequence numbers sent
	// (16-bit, as on the wire).
	FirstSeq uint16 `json:"firstSeq"`
	LastSeq  uint16 `json:"lastSeq"`
}

// stream is one outgoing RTP stream: a track played from a random phase
// with its own SSRC, sequence and timestamp bases.
type stream struct {
	t     *Track
	ssrc  uint32
	seq0  uint16
	ts0   uint32
	phase int           // index of the first packet sent
	delay time.Duration // when the first packet is due
	n     uint64        // packets sent so far
	due   time.Duration // when packet n is due
	dst   *unix.RawSockaddrInet4
	rep   StreamReport
	index int // in the worker's heap
}

// position is where packet n of the stream lies in the track: the packet
// index and how many whole loops came before it.
func (s *stream) position(n uint64) (idx int, loop uint64) {
	p := uint64(s.phase) + n
	l := uint64(len(s.t.Packets))
	return int(p % l), p / l
}

// dueAt is when packet n is due: the track's own spacing, continued
// across loops, shifted so that the phase packet goes at delay.
func (s *stream) dueAt(n uint64) time.Duration {
	idx, loop := s.position(n)
	return s.delay + time.Duration(loop)*s.t.Loop + s.t.Packets[idx].At - s.t.Packets[s.phase].At
}

// build writes packet n into buf with this stream's identity and returns
// its length. Sequence numbers run on without a gap across loops and the
// timestamp keeps the track's clock, so the receiver sees one continuous
// stream.
func (s *stream) build(buf []byte, n uint64) int {
	idx, loop := s.position(n)
	src := s.t.Packets[idx].Data
	copy(buf, src)
	binary.BigEndian.PutUint16(buf[2:4], s.seq0+uint16(n))
	ts := s.ts0 + uint32(loop)*s.t.loopTicks + s.t.tsOff[idx] - s.t.tsOff[s.phase]
	binary.BigEndian.PutUint32(buf[4:8], ts)
	binary.BigEndian.PutUint32(buf[8:12], s.ssrc)
	return len(src)
}

// streamHeap orders a worker's streams by when their next packet is due.
type streamHeap []*stream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h streamHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *streamHeap) Push(x any) {
	s := x.(*stream)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
