package snapshot

import (
	"time"

	"github.com/ars-project/ars/internal/transcode/h264"
	"github.com/ars-project/ars/internal/vcodec"
)

// maxGrabPackets bounds the packets one keyframe may span: a 4 MiB frame
// (vcodec.MaxFrameSize) in 1200-byte packets is about 3,500.
const maxGrabPackets = 4096

// Keyframe is a whole keyframe as a decoder takes it: an H.264 access
// unit in Annex B with its SPS and PPS, a VP8 or VP9 key frame, an AV1
// temporal unit with its sequence header (mixproto's video unit). Data
// is the caller's.
type Keyframe struct {
	Codec vcodec.Codec
	Data  []byte
	// At is when the keyframe's first packet arrived.
	At time.Time
}

type grabPacket struct {
	seq     uint16
	marker  bool
	payload []byte
}

// Grabber takes the next whole keyframe of one RTP video stream. Until
// Arm it does nothing with the packets it is shown, so an idle grabber
// costs a branch per packet. Armed, it waits for a packet that starts a
// keyframe (vcodec.IsKeyframeStart), copies the packets of that RTP
// timestamp until the marker bit (or the next timestamp), and rebuilds
// the frame in sequence order; a frame with a missing packet is dropped
// and the grabber waits for the next keyframe. It is not safe for
// concurrent use.
type Grabber struct {
	codec vcodec.Codec
	armed bool
	open  bool
	ts    uint32
	at    time.Time
	size  int
	pkts  []grabPacket
	// Buffers kept from one keyframe to the next.
	store []byte
	asm   *vcodec.Assembler
	dep   h264.Depacketizer
	au    h264.AccessUnit
	sps   []byte
	pps   []byte
	nal   func([]byte)
}

// NewGrabber returns a grabber for a stream of codec c.
func NewGrabber(c vcodec.Codec) *Grabber {
	g := &Grabber{codec: c}
	if c != vcodec.H264 {
		g.asm = vcodec.NewAssembler(c)
	}
	g.nal = g.addNAL
	return g
}

// Codec is the stream's codec.
func (g *Grabber) Codec() vcodec.Codec { return g.codec }

// Arm makes the grabber take the next keyframe.
func (g *Grabber) Arm() { g.armed = true }

// Armed says a keyframe is awaited.
func (g *Grabber) Armed() bool { return g.armed }

// Disarm stops waiting and forgets a keyframe in progress.
func (g *Grabber) Disarm() {
	g.armed = false
	g.reset()
}

func (g *Grabber) reset() {
	g.open, g.size = false, 0
	for i := range g.pkts {
		g.pkts[i].payload = nil
	}
	g.pkts = g.pkts[:0]
	g.store = g.store[:0]
}

// Packet shows the grabber one RTP packet of the stream (its header
// already parsed) that arrived at at. When it completes an armed
// keyframe it returns it and disarms.
func (g *Grabber) Packet(at time.Time, seq uint16, ts uint32, marker bool, payload []byte) (Keyframe, bool) {
	if !g.armed || len(payload) == 0 {
		return Keyframe{}, false
	}
	if g.open && ts != g.ts {
		// The next picture began before the keyframe's marker: the
		// sender does not set markers, or the marked packet was lost.
		if k, ok := g.finish(); ok {
			return k, true
		}
		g.reset()
	}
	if !g.open {
		if !vcodec.IsKeyframeStart(g.codec, payload) {
			return Keyframe{}, false
		}
		g.open, g.ts, g.at = true, ts, at
	}
	if g.size+len(payload) > vcodec.MaxFrameSize || len(g.pkts) >= maxGrabPackets {
		g.reset()
		return Keyframe{}, false
	}
	// Copies go into one growing store, re-sliced once the frame is
	// complete: no allocation per packet once it has grown.
	off := len(g.store)
	g.store = append(g.store, payload...)
	g.pkts = append(g.pkts, grabPacket{seq: seq, marker: marker, payload: g.store[off:len(g.store):len(g.store)]})
	g.size += len(payload)
	if marker {
		k, ok := g.finish()
		if !ok {
			g.reset()
		}
		return k, ok
	}
	return Keyframe{}, false
}

// finish rebuilds the collected frame. The store may have been moved by
// append since the first packets were added, so the payloads are
// re-sliced from their lengths.
func (g *Grabber) finish() (Keyframe, bool) {
	off := 0
	for i := range g.pkts {
		n := len(g.pkts[i].payload)
		g.pkts[i].payload = g.store[off : off+n : off+n]
		off += n
	}
	// Sequence order (a reordered packet), then no gap: a keyframe with
	// a hole decodes to garbage.
	base := g.pkts[0].seq
	for _, p := range g.pkts {
		if int16(p.seq-base) < 0 {
			base = p.seq
		}
	}
	sortBySeq(g.pkts, base)
	for i := 1; i < len(g.pkts); i++ {
		if g.pkts[i].seq != g.pkts[i-1].seq+1 {
			return Keyframe{}, false
		}
	}
	var data []byte
	if g.codec == vcodec.H264 {
		data = g.h264()
	} else {
		g.asm.Begin()
		for _, p := range g.pkts {
			g.asm.Push(p.payload)
		}
		fr, err := g.asm.End()
		if err == nil && fr.Key {
			data = append([]byte(nil), fr.Data...)
		}
	}
	if data == nil {
		return Keyframe{}, false
	}
	k := Keyframe{Codec: g.codec, Data: data, At: g.at}
	g.armed = false
	g.reset()
	return k, true
}

// sortBySeq orders packets by sequence number from base (insertion sort:
// they arrive nearly in order).
func sortBySeq(p []grabPacket, base uint16) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].seq-base < p[j-1].seq-base; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func (g *Grabber) addNAL(n []byte) {
	switch g.au.Add(n) {
	case h264.NALSPS:
		g.sps = append(g.sps[:0], n...)
	case h264.NALPPS:
		g.pps = append(g.pps[:0], n...)
	}
}

var startCode = []byte{0, 0, 0, 1}

// h264 rebuilds an IDR access unit in Annex B, its SPS and PPS in
// front; nil when the picture is not whole or lacks parameter sets.
func (g *Grabber) h264() []byte {
	g.au.Reset()
	g.dep.Reset()
	for _, p := range g.pkts {
		if err := g.dep.Push(p.payload, g.nal); err != nil {
			return nil
		}
	}
	a := &g.au
	if g.dep.InFragment() || !a.HasSlice || !a.Keyframe || a.Damaged {
		return nil
	}
	var out []byte
	if !a.HasSPS || !a.HasPPS {
		if len(g.sps) == 0 || len(g.pps) == 0 {
			return nil
		}
		out = append(out, startCode...)
		out = append(out, g.sps...)
		out = append(out, startCode...)
		out = append(out, g.pps...)
	}
	// AVCC with 4-byte lengths becomes Annex B by writing a start code
	// over every length.
	n := len(out)
	out = append(out, a.Buf...)
	for b := out[n:]; len(b) >= 4; {
		l := int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		copy(b, startCode)
		if l > len(b)-4 {
			break
		}
		b = b[4+l:]
	}
	return out
}
