package rtpreorder

import "time"

// Packet is one RTP packet held for reordering. Payload is a copy owned
// by its slot and reused, so a Sink must not keep it.
type Packet struct {
	Marker bool
	// Seq is the extended (unwrapped) sequence number.
	Seq int64
	// TS is the timestamp as the caller pushed it.
	TS int64
	// At is the arrival time on the caller's clock.
	At      time.Duration
	Payload []byte
	// Meta is a byte the caller attached with PushMeta (the converter
	// carries the packet's camera orientation in it); 0 from Push.
	Meta uint8

	used bool
}

// Sink receives one SSRC's packets in sequence order. gap says packets
// were lost right before this one. p is only valid during the call.
type Sink interface {
	Packet(ssrc uint32, p *Packet, gap bool) error
}

// Buffer puts one SSRC's packets back into sequence order. It drops
// duplicates and packets that come after their place was given up, and
// gives up waiting for a missing packet once later packets have waited for
// the window (arrival time) or the buffer is full. It is not safe for
// concurrent use.
type Buffer struct {
	slots     []Packet
	size      int64 // len(slots), a power of two
	window    time.Duration
	next      int64 // sequence number to emit next
	maxSeq    int64
	count     int64
	started   bool
	emitted   bool
	gap       bool
	waiting   bool
	waitSince time.Duration
	firstAt   time.Duration
}

// New returns a buffer that waits up to window for a missing packet and
// holds up to slots packets. slots is rounded up to a power of two (the
// ring is indexed by masking); the slot memory is allocated on the first
// Push so that streams that never send cost nothing.
func New(window time.Duration, slots int) *Buffer {
	size := int64(2)
	for size < int64(slots) {
		size <<= 1
	}
	return &Buffer{window: window, size: size}
}

// Reset forgets the stream position, keeping the slot memory: the SSRC
// stopped feeding its track and may come back much later. Call Flush
// first to keep what is buffered.
func (b *Buffer) Reset() {
	for i := range b.slots {
		b.slots[i].used = false
	}
	b.count = 0
	b.started, b.emitted, b.gap, b.waiting = false, false, false, false
}

// Push adds one packet with extended sequence number seq that arrived at
// at, and emits to sink what is now in order. It returns false if the
// packet was dropped as a duplicate or as too late.
func (b *Buffer) Push(ssrc uint32, seq, ts int64, at time.Duration, marker bool, payload []byte, sink Sink) (bool, error) {
	return b.PushMeta(ssrc, seq, ts, at, marker, 0, payload, sink)
}

// PushMeta is Push with a byte of the caller's that travels with the
// packet to the sink (Packet.Meta).
func (b *Buffer) PushMeta(ssrc uint32, seq, ts int64, at time.Duration, marker bool, meta uint8, payload []byte, sink Sink) (bool, error) {
	if b.slots == nil {
		b.slots = make([]Packet, b.size)
	}
	if !b.started {
		b.started, b.next, b.maxSeq, b.firstAt = true, seq, seq, at
	}
	if seq < b.next {
		// Before anything was emitted, an early packet that arrived late
		// simply moves the start back.
		if b.emitted || b.maxSeq-seq >= b.size {
			return false, nil
		}
		b.next = seq
	}
	if seq-b.next >= b.size {
		if err := b.Flush(ssrc, sink); err != nil {
			return true, err
		}
		if seq-b.next >= b.size {
			b.next, b.gap = seq, true
		}
	}
	s := &b.slots[seq&(b.size-1)]
	if s.used {
		return false, nil // same sequence number: a duplicate
	}
	s.used, s.Marker, s.Seq, s.TS, s.At, s.Meta = true, marker, seq, ts, at, meta
	s.Payload = append(s.Payload[:0], payload...)
	b.count++
	if seq > b.maxSeq {
		b.maxSeq = seq
	}
	return true, b.drain(ssrc, at, sink)
}

// drain emits the in-order run at the head and gives up on a missing
// packet once the ones behind it have waited long enough.
func (b *Buffer) drain(ssrc uint32, now time.Duration, sink Sink) error {
	if !b.emitted && now-b.firstAt < b.window && b.count < b.size/2 {
		// Nothing emitted yet: the stream's first packet may still come,
		// overtaken by later ones, so the start waits one window.
		return nil
	}
	for {
		if err := b.emitRun(ssrc, sink); err != nil {
			return err
		}
		if b.count == 0 {
			b.waiting = false
			return nil
		}
		if !b.waiting {
			b.waiting, b.waitSince = true, now
			return nil
		}
		if now-b.waitSince < b.window {
			return nil
		}
		b.skipToBuffered()
		b.waiting = false
	}
}

func (b *Buffer) emitRun(ssrc uint32, sink Sink) error {
	for {
		s := &b.slots[b.next&(b.size-1)]
		if !s.used || s.Seq != b.next {
			return nil
		}
		gap := b.gap
		b.gap, s.used = false, false
		b.count--
		b.next++
		b.emitted = true
		if err := sink.Packet(ssrc, s, gap); err != nil {
			return err
		}
	}
}

// skipToBuffered moves past missing packets to the lowest buffered one.
func (b *Buffer) skipToBuffered() {
	for i := int64(0); i < b.size; i++ {
		if s := &b.slots[b.next&(b.size-1)]; s.used && s.Seq == b.next {
			return
		}
		b.next++
		b.gap = true
	}
}

// Flush emits everything buffered, skipping what is missing.
func (b *Buffer) Flush(ssrc uint32, sink Sink) error {
	for b.count > 0 {
		if err := b.emitRun(ssrc, sink); err != nil {
			return err
		}
		if b.count > 0 {
			b.skipToBuffered()
		}
	}
	b.waiting = false
	return nil
}
