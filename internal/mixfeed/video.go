package mixfeed

import (
	"time"

	"github.com/ars-project/ars/internal/mixproto"

	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/transcode/h264"
	"github.com/ars-project/ars/internal/vcodec"
)

// videoAssembler rebuilds H.264 access units from ordered RTP payloads
// and keeps only pictures a decoder can decode: it starts at an IDR
// picture and after any loss waits for the next one (a P picture whose
// references are gone decodes to garbage, in a composite as anywhere).
type videoAssembler struct {
	dep   h264.Depacketizer
	cur   h264.AccessUnit
	open  bool
	ts    int64
	at    time.Duration
	saw   bool // the open picture saw its marker
	marks bool // the sender sets marker bits
	lost  bool // a gap since the last picture boundary

	needIDR  bool
	sps, pps []byte
	out      []byte // the Annex B unit handed on, reused
	emitNAL  func([]byte)
}

var startCode = [4]byte{0, 0, 0, 1}

// maxUnit bounds an access unit: a sender that never ends a picture
// cannot grow memory without limit, and every unit handed on fits a
// mixproto frame with its parameter sets in front.
const maxUnit = mixproto.MaxBody - 64<<10

func (v *videoAssembler) nal(n []byte) {
	switch v.cur.Add(n) {
	case h264.NALSPS:
		v.sps = append(v.sps[:0], n...)
	case h264.NALPPS:
		v.pps = append(v.pps[:0], n...)
	}
}

func (v *videoAssembler) packet(f *feed, p *rtpreorder.Packet, gap bool) {
	if v.emitNAL == nil {
		v.emitNAL = v.nal
	}
	if gap {
		v.dep.Reset()
		v.lost = true
		// The missing packets were this picture's if they share its
		// timestamp, or if it never saw its marker bit from a sender that
		// sets them (its tail is gone).
		if v.open && (v.ts == p.TS || (v.marks && !v.saw)) {
			v.cur.Damaged = true
		}
	}
	if len(p.Payload) == 0 {
		return // padding: no media, no boundary
	}
	if !v.open || p.TS != v.ts {
		v.end(f, false)
		v.cur.Reset()
		v.open, v.ts, v.at, v.saw = true, p.TS, p.At, false
		if v.lost {
			v.needIDR, v.lost = true, false
		}
	}
	f.noteOrientation(p.Meta)
	// The picture's arrival is its earliest packet's: a reordered first
	// packet does not make the picture late.
	v.at = min(v.at, p.At)
	if len(v.cur.Buf) > maxUnit {
		// Too large to hand on: dropped, and its memory with it.
		v.cur.Damaged = true
		v.cur.Buf = nil
	}
	if err := v.dep.Push(p.Payload, v.emitNAL); err != nil {
		v.cur.Damaged = true
	}
	if p.Marker {
		v.saw, v.marks = true, true
		v.end(f, false)
	}
}

// switchSource ends the picture of an SSRC that stops feeding: the next
// one starts over at an IDR picture.
func (v *videoAssembler) switchSource(f *feed) {
	v.end(f, true)
	v.dep.Reset()
	v.needIDR, v.marks, v.lost = true, false, false
}

// end decides about the open picture. last says nothing more of it can
// come, so a picture that never saw its marker was cut off.
func (v *videoAssembler) end(f *feed, last bool) {
	if !v.open {
		return
	}
	v.open = false
	c := &v.cur
	if last && v.marks && !v.saw {
		c.Damaged = true
	}
	if v.dep.InFragment() {
		// It ended inside a fragmented NAL unit: the tail was lost.
		c.Damaged = true
		v.dep.Reset()
	}
	keep := c.HasSlice && !c.Damaged && (!v.needIDR || c.Keyframe)
	if keep && c.Keyframe && (len(v.sps) == 0 || len(v.pps) == 0) {
		keep = false
	}
	if len(c.Buf)+len(v.sps)+len(v.pps)+8 > maxUnit {
		keep = false
	}
	if !keep {
		if c.HasSlice {
			f.dropped++
			v.needIDR = true
			// The consumer rate-limits the requests.
			f.out.keyframeNeeded()
		}
		return
	}
	out := v.out[:0]
	if c.Keyframe {
		v.needIDR = false
		// Every IDR picture carries its parameter sets, so the mixer's
		// decoder can start (or restart) at any keyframe.
		if !c.HasSPS || !c.HasPPS {
			out = append(out, startCode[:]...)
			out = append(out, v.sps...)
			out = append(out, startCode[:]...)
			out = append(out, v.pps...)
		}
	}
	// AVCC with 4-byte lengths becomes Annex B by writing a start code
	// over every length.
	n := len(out)
	out = append(out, c.Buf...)
	for b := out[n:]; len(b) >= 4; {
		l := int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		copy(b, startCode[:])
		if l > len(b)-4 {
			break
		}
		b = b[4+l:]
	}
	v.out = out
	pts := f.place(kindVideo, v.ts, v.at)
	f.units[kindVideo]++
	f.out.video(pts, mixproto.VideoMeta{Key: c.Keyframe, Codec: vcodec.H264, Orientation: f.orient}, out)
}
