package transcode

import "time"

// reorderSlots is the capacity of a reorder buffer in packets; a power
// of two. 1024 packets is seconds of video at WebRTC bitrates, more than
// any retransmission takes.
const reorderSlots = 1024

// bufferedPacket is one RTP packet held for reordering. payload is a copy
// owned by its slot and reused.
type bufferedPacket struct {
	used    bool
	marker  bool
	seq     int64
	ts      int64
	at      time.Duration
	payload []byte
}

// packetSink receives one SSRC's packets in sequence order. gap says
// packets were lost right before this one. p is only valid during the call.
type packetSink interface {
	packet(ssrc uint32, p *bufferedPacket, gap bool) error
}

// reorderBuffer puts one SSRC's packets back into sequence order. It
// drops duplicates and packets that come after their place was given up,
// and gives up waiting for a missing packet once later packets have waited
// for window (arrival time) or the buffer is full.
type reorderBuffer struct {
	slots     []bufferedPacket
	window    time.Duration
	next      int64 // sequence number to emit next
	maxSeq    int64
	count     int
	started   bool
	emitted   bool
	gap       bool
	waiting   bool
	waitSince time.Duration
	firstAt   time.Duration
}

func newReorderBuffer(window time.Duration) reorderBuffer {
	return reorderBuffer{window: window}
}

// reset forgets the stream position, keeping the slot memory: the SSRC
// stopped feeding its track and may come back much later.
func (b *reorderBuffer) reset() {
	b.started, b.emitted, b.gap, b.waiting = false, false, false, false
}

// push adds one packet. It returns false if the packet was dropped as a
// duplicate or as too late.
func (b *reorderBuffer) push(ssrc uint32, seq, ts int64, at time.Duration, marker bool, payload []byte, sink packetSink) (bool, error) {
	if b.slots == nil {
		b.slots = make([]bufferedPacket, reorderSlots)
	}
	if !b.started {
		b.started, b.next, b.maxSeq, b.firstAt = true, seq, seq, at
	}
	if seq < b.next {
		// Before anything was emitted, an early packet that arrived late
		// simply moves the start back.
		if b.emitted || b.maxSeq-seq >= reorderSlots {
			return false, nil
		}
		b.next = seq
	}
	if seq-b.next >= reorderSlots {
		if err := b.flush(ssrc, sink); err != nil {
			return true, err
		}
		if seq-b.next >= reorderSlots {
			b.next, b.gap = seq, true
		}
	}
	s := &b.slots[seq&(reorderSlots-1)]
	if s.used {
		return false, nil // same sequence number: a duplicate
	}
	s.used, s.marker, s.seq, s.ts, s.at = true, marker, seq, ts, at
	s.payload = append(s.payload[:0], payload...)
	b.count++
	if seq > b.maxSeq {
		b.maxSeq = seq
	}
	return true, b.drain(ssrc, at, sink)
}

// drain emits the in-order run at the head and gives up on a missing
// packet once the ones behind it have waited long enough.
func (b *reorderBuffer) drain(ssrc uint32, now time.Duration, sink packetSink) error {
	if !b.emitted && now-b.firstAt < b.window && b.count < reorderSlots/2 {
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

func (b *reorderBuffer) emitRun(ssrc uint32, sink packetSink) error {
	for {
		s := &b.slots[b.next&(reorderSlots-1)]
		if !s.used || s.seq != b.next {
			return nil
		}
		gap := b.gap
		b.gap, s.used = false, false
		b.count--
		b.next++
		b.emitted = true
		if err := sink.packet(ssrc, s, gap); err != nil {
			return err
		}
	}
}

// skipToBuffered moves past missing packets to the lowest buffered one.
func (b *reorderBuffer) skipToBuffered() {
	for i := 0; i < reorderSlots; i++ {
		if s := &b.slots[b.next&(reorderSlots-1)]; s.used && s.seq == b.next {
			return
		}
		b.next++
		b.gap = true
	}
}

// flush emits everything buffered, skipping what is missing.
func (b *reorderBuffer) flush(ssrc uint32, sink packetSink) error {
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
