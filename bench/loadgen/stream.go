package loadgen

import "time"

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
	out   *batch
	// gen and msg place the stream's last queued datagram: message msg
	// of out's batch number gen.
	gen uint64
	msg int32
	rep StreamReport
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
