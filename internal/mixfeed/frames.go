package mixfeed

import (
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/vcodec"
)

// frameAssembler rebuilds VP8 and VP9 frames and AV1 temporal units from
// ordered RTP payloads (vcodec.Assembler, on pion's depacketizers) and,
// as videoAssembler does for H.264, keeps only frames a decoder can
// decode: it starts at a keyframe and after any loss waits for the next
// one. A frame ends at its marker bit or when a packet of another RTP
// timestamp begins the next, as in the MP4 converter (transcode's
// frameTrack).
type frameAssembler struct {
	codec   vcodec.Codec
	asm     *vcodec.Assembler
	open    bool
	ts      int64
	at      time.Duration
	saw     bool // the open frame saw its marker
	marks   bool // the sender sets marker bits
	lost    bool // a gap since the last frame boundary
	needKey bool
}

// use prepares the assembler for a new active stream of codec c: nothing
// before its first keyframe.
func (v *frameAssembler) use(c vcodec.Codec) {
	if c == vcodec.H264 || c == vcodec.Unknown {
		return
	}
	if v.asm == nil || v.codec != c {
		v.codec, v.asm = c, vcodec.NewAssembler(c)
	}
	v.open, v.marks, v.lost, v.needKey = false, false, false, true
}

func (v *frameAssembler) packet(f *feed, p *rtpreorder.Packet, gap bool) {
	if v.asm == nil {
		return
	}
	if gap {
		v.lost = true
		// The missing packets were this frame's if they share its
		// timestamp, or if it never saw its marker bit from a sender that
		// sets them (its tail is gone).
		if v.open && (v.ts == p.TS || (v.marks && !v.saw)) {
			v.asm.Lost()
		}
	}
	if len(p.Payload) == 0 {
		return // padding: no media, no boundary
	}
	if !v.open || p.TS != v.ts {
		v.end(f, false)
		v.asm.Begin()
		v.open, v.ts, v.at, v.saw = true, p.TS, p.At, false
		if v.lost {
			// Whole frames may be gone, and what follows refers to them.
			v.needKey, v.lost = true, false
		}
	}
	f.noteOrientation(p.Meta)
	// The frame's arrival is its earliest packet's.
	v.at = min(v.at, p.At)
	v.asm.Push(p.Payload)
	if p.Marker {
		v.saw, v.marks = true, true
		v.end(f, false)
	}
}

// switchSource ends the frame of an SSRC that stops feeding.
func (v *frameAssembler) switchSource(f *feed) {
	v.end(f, true)
	v.needKey, v.marks, v.lost = true, false, false
}

// end decides about the open frame. last says nothing more of it can
// come, so a frame that never saw its marker was cut off.
func (v *frameAssembler) end(f *feed, last bool) {
	if !v.open {
		return
	}
	v.open = false
	if last && v.marks && !v.saw {
		v.asm.Lost()
	}
	fr, err := v.asm.End()
	if err != nil || (v.needKey && !fr.Key) {
		// A broken frame, or one whose references are gone: a decoder
		// would show garbage until the next keyframe, so nothing goes
		// on until then. The consumer rate-limits the requests.
		f.dropped++
		v.needKey = true
		f.out.keyframeNeeded()
		return
	}
	if fr.Key {
		v.needKey = false
	}
	pts := f.place(kindVideo, v.ts, v.at)
	f.units[kindVideo]++
	f.out.video(pts, mixproto.VideoMeta{Key: fr.Key, Codec: v.codec, Orientation: f.orient}, fr.Data)
}
