package session

import (
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Bounds of the queue a participant's first packets wait in while its
// capture file is opened: room for a large keyframe (a 1080p IDR is a
// couple of hundred KB, sent in a burst) and, at a 1.5 Mbit/s stream's
// rate, over a second of media, far longer than an open takes even with
// thousands queued before it. Queues are pooled and live only until the
// file is open, and the pages of one are touched only as far as it fills.
const (
	defaultPendingBytes   = 256 << 10
	defaultPendingPackets = 1024
	// openQueueLen bounds the open requests waiting for a worker; a request
	// that finds it full is made again by the participant's next packet.
	openQueueLen = 8192
	// defaultOpenWorkers is how many capture files are opened at once:
	// enough to overlap the disk's latency, few enough not to hammer it
	// when two thousand participants start together.
	defaultOpenWorkers = 4
)

// pendingPacket is one queued packet (or merged GRO message): its bytes
// are buf[off:off+n].
type pendingPacket struct {
	kind storage.RecordKind
	at   int64 // unix nanoseconds: no pointer for the collector to scan
	off  int
	n    int
	seg  int
}

// pendingQueue holds a participant's packets until its capture is open.
// Queues are pooled by the Manager: a warm pool makes queuing allocation
// free, and no memory is held by participants whose capture is open.
type pendingQueue struct {
	buf  []byte
	pkts []pendingPacket
}

func newPendingQueue(bytes, packets int) *pendingQueue {
	return &pendingQueue{buf: make([]byte, 0, bytes), pkts: make([]pendingPacket, 0, packets)}
}

// push copies data in; it reports false when the queue is full.
func (q *pendingQueue) push(kind storage.RecordKind, at time.Time, data []byte, seg int) bool {
	if len(q.pkts) == cap(q.pkts) || len(q.buf)+len(data) > cap(q.buf) {
		return false
	}
	off := len(q.buf)
	q.buf = append(q.buf, data...)
	q.pkts = append(q.pkts, pendingPacket{kind: kind, at: at.UnixNano(), off: off, n: len(data), seg: seg})
	return true
}

// count is the number of datagrams queued.
func (q *pendingQueue) count() int {
	n := 0
	for _, pk := range q.pkts {
		n += datagrams(pk.n, pk.seg)
	}
	return n
}

func (q *pendingQueue) reset() {
	q.buf = q.buf[:0]
	q.pkts = q.pkts[:0]
}

// datagrams is how many datagrams n bytes of seg-byte segments hold (seg 0:
// one datagram).
func datagrams(n, seg int) int {
	if seg <= 0 {
		return 1
	}
	return (n + seg - 1) / seg
}
