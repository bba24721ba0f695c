package transcode

import (
	"bytes"
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/vcodec"
)

// frameTrack rebuilds VP8, VP9 or AV1 frames from RTP (vcodec.Assembler,
// on pion's depacketizers) and keeps those a decoder can decode: from
// the first keyframe on, and after any loss only from the next keyframe,
// as videoTrack does for H.264.
type frameTrack struct {
	log   *slog.Logger
	codec vcodec.Codec
	tl    timeline
	tab   *orientedTable
	asm   *vcodec.Assembler

	ssrc    uint32
	bound   bool
	needKey bool
	lost    bool
	markers bool
	pace    pacer
	grid    grid

	open      bool
	ts        int64
	at        time.Duration
	curSSRC   uint32
	packets   int
	sawMarker bool

	width, height int
	// The first keyframe's configuration, for the sample entry.
	seqHeader []byte
	av1Seq    *av1.SequenceHeader
	vp9Hdr    *vp9.Header
	reach     int64
	used      int
	droppd    int
}

func newFrameTrack(log *slog.Logger, sp *spool, codec vcodec.Codec, clock uint32) *frameTrack {
	return &frameTrack{log: log, codec: codec, tl: newTimeline(clock), tab: newOrientedTable(sp, int64(clock)),
		asm: vcodec.NewAssembler(codec), needKey: true}
}

func (v *frameTrack) Packet(ssrc uint32, p *rtpreorder.Packet, gap bool) error {
	if !v.bound || ssrc != v.ssrc {
		// Another SSRC continues the track: a new encoder, which starts
		// with a keyframe anyway.
		if err := v.endLastFrame(); err != nil {
			return err
		}
		v.ssrc, v.bound, v.needKey, v.markers = ssrc, true, true, false
	}
	if gap {
		v.lost = true
		// The lost packets were the open frame's if they share its
		// timestamp, or if it never saw its marker bit (its tail is
		// gone) from a sender that sets them; otherwise they were the
		// head of the next frame, which the assembler finds without its
		// start.
		if v.open && (v.ts == p.TS || (v.markers && !v.sawMarker)) {
			v.asm.Lost()
		}
	}
	v.tab.note(p.Meta)
	if len(p.Payload) == 0 {
		return nil // padding only
	}
	if !v.open || p.TS != v.ts {
		if err := v.endFrame(); err != nil {
			return err
		}
		v.asm.Begin()
		v.open, v.ts, v.at, v.curSSRC, v.packets, v.sawMarker = true, p.TS, p.At, ssrc, 0, false
		if v.lost {
			v.needKey, v.lost = true, false
		}
	}
	v.packets++
	if p.At < v.at {
		v.at = p.At
	}
	if p.Marker {
		v.sawMarker, v.markers = true, true
	}
	v.asm.Push(p.Payload)
	return nil
}

// endFrame decides whether the current frame goes into the MP4.
func (v *frameTrack) endFrame() error {
	if !v.open {
		return nil
	}
	v.open = false
	f, err := v.asm.End()
	keep := err == nil && (!v.needKey || f.Key)
	if !keep {
		// Whatever follows a lost or broken frame may refer to it.
		v.needKey = true
		v.droppd += v.packets
		if t, ok := v.tl.peek(v.curSSRC, v.ts, v.at); ok && t > v.reach {
			v.reach = t
		}
		return nil
	}
	t, ok := v.tl.place(v.curSSRC, v.ts, v.at)
	if !ok {
		v.needKey = true
		v.droppd += v.packets
		return nil
	}
	if f.Key {
		v.noteKeyframe(&f)
		v.needKey = false
	}
	if v.grid.n == 0 {
		// VP8, VP9 and AV1 over RTP declare no frame rate: the fine grid.
		v.grid = newGrid(v.tl.clock, 0, 0)
	}
	t = v.grid.place(v.pace.place(t))
	v.used += v.packets
	return v.tab.add(t, f.Key, f.Data)
}

func (v *frameTrack) noteKeyframe(f *vcodec.Frame) {
	if v.width == 0 && f.Width > 0 {
		v.width, v.height = f.Width, f.Height
	} else if f.Width > 0 && (f.Width != v.width || f.Height != v.height) {
		// The decoders read the size from every keyframe; the sample
		// entry keeps the first.
		v.log.Info("video size changed", "codec", v.codec, "width", f.Width, "height", f.Height)
	}
	if v.vp9Hdr == nil && f.VP9 != nil {
		h := *f.VP9
		v.vp9Hdr = &h
	}
	if v.seqHeader == nil && f.SequenceHeader != nil {
		v.seqHeader = bytes.Clone(f.SequenceHeader)
		v.av1Seq = f.AV1
	}
}

// endLastFrame ends the frame of an SSRC that stops here; a frame that
// never saw its marker bit was cut off, unless the sender sets none.
func (v *frameTrack) endLastFrame() error {
	if v.open && v.markers && !v.sawMarker {
		v.asm.Lost()
	}
	return v.endFrame()
}

func (v *frameTrack) finish() error {
	if err := v.endLastFrame(); err != nil {
		return err
	}
	last := v.tab.lastDuration()
	if last == 0 {
		last = v.tl.clock / 30
	}
	if v.reach > v.tl.last {
		last += v.reach - v.tl.last
	}
	return v.tab.finish(last)
}
