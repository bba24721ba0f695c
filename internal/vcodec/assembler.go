package vcodec

import (
	"encoding/binary"
	"errors"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp/codecs"
)

// MaxFrameSize bounds one assembled frame: a hostile sender that never
// ends a frame cannot make the assembler grow without limit. 4 MiB is
// far above any real-time frame (an AV1 4K keyframe is under 1 MiB).
const MaxFrameSize = 4 << 20

// Frame is one assembled picture: a VP8 or VP9 frame (a VP9 superframe
// as the encoder made it), or an AV1 temporal unit as low-overhead OBUs
// (each with its size field, no temporal delimiters): what an MP4 sample
// of vp08, vp09 or av01 holds.
type Frame struct {
	Data []byte
	// Key says the frame decodes on its own (VP8/VP9 key frame, AV1
	// temporal unit with a sequence header).
	Key bool
	// Width and Height are the coded size when the frame says it
	// (keyframes), else 0.
	Width, Height int
	// SequenceHeader is the AV1 sequence header OBU of a key temporal
	// unit (with its size field), for the av1C box. Like Data it is valid
	// until the next Begin.
	SequenceHeader []byte
	// AV1 is the parsed sequence header when SequenceHeader is set.
	AV1 *av1.SequenceHeader
	// VP9 is the parsed VP9 frame header (profile, colour, size).
	VP9 *vp9.Header
}

// Assembler rebuilds VP8, VP9 and AV1 frames from RTP payloads with
// pion's depacketizers. The caller keeps the frame boundaries (a new RTP
// timestamp begins a frame) and reports loss: Begin starts a frame, Push
// adds the next payload in sequence order, Lost says packets of this
// frame are missing, End returns the frame if all of it arrived.
type Assembler struct {
	codec   Codec
	buf     []byte
	damaged bool
	started bool // the frame's first packet was seen
	pkts    int
	vp8     codecs.VP8Packet
	vp9     codecs.VP9Packet
	av1     codecs.AV1Depacketizer
}

// Errors of Assembler.End: why a frame was not whole.
var (
	ErrFrameIncomplete = errors.New("vcodec: frame incomplete")
	ErrFrameTooLarge   = errors.New("vcodec: frame larger than MaxFrameSize")
	ErrFrameMalformed  = errors.New("vcodec: frame malformed")
)

// NewAssembler returns an assembler for codec c (VP8, VP9 or AV1).
func NewAssembler(c Codec) *Assembler { return &Assembler{codec: c} }

// Begin starts a new frame, dropping any unfinished one.
func (a *Assembler) Begin() {
	a.buf, a.damaged, a.started, a.pkts = a.buf[:0], false, false, 0
	a.av1 = codecs.AV1Depacketizer{}
}

// Lost marks the current frame as missing packets.
func (a *Assembler) Lost() { a.damaged = true }

// Push adds one RTP payload of the current frame, in sequence order.
func (a *Assembler) Push(payload []byte) {
	if a.damaged {
		return
	}
	first := a.pkts == 0
	a.pkts++
	var data []byte
	switch a.codec {
	case VP8:
		d, err := a.vp8.Unmarshal(payload)
		if err != nil {
			a.damaged = true
			return
		}
		if first {
			// A frame begins with the start of partition 0.
			if a.vp8.S == 0 || a.vp8.PID != 0 {
				a.damaged = true
				return
			}
			a.started = true
		}
		data = d
	case VP9:
		d, err := a.vp9.Unmarshal(payload)
		if err != nil {
			a.damaged = true
			return
		}
		if a.vp9.L && a.vp9.SID != 0 {
			// Upper spatial layers are not recorded: the base layer
			// decodes on its own, and layer frames would need a
			// superframe index to share one sample.
			a.pkts--
			return
		}
		if first {
			if !a.vp9.B {
				a.damaged = true
				return
			}
			a.started = true
		}
		data = d
	case AV1:
		if first {
			// Z set: the first OBU element continues one of a frame
			// this assembler never saw.
			if len(payload) == 0 || payload[0]&0x80 != 0 {
				a.damaged = true
				return
			}
			a.started = true
		}
		d, err := a.av1.Unmarshal(payload)
		if err != nil {
			a.damaged = true
			return
		}
		data = d
	default:
		a.damaged = true
		return
	}
	if len(a.buf)+len(data) > MaxFrameSize {
		a.damaged = true
		return
	}
	a.buf = append(a.buf, data...)
}

// End finishes the current frame. The returned Data is valid until the
// next Begin.
func (a *Assembler) End() (Frame, error) {
	switch {
	case a.damaged || !a.started:
		return Frame{}, ErrFrameIncomplete
	case len(a.buf) == 0:
		return Frame{}, ErrFrameIncomplete
	}
	f := Frame{Data: a.buf}
	switch a.codec {
	case VP8:
		// RFC 6386 section 9.1: a 3-byte frame tag whose low bit is the
		// inverse key-frame flag; key frames add a start code and the
		// 14-bit sizes.
		f.Key = a.buf[0]&0x01 == 0
		if f.Key {
			if len(a.buf) < 10 || a.buf[3] != 0x9d || a.buf[4] != 0x01 || a.buf[5] != 0x2a {
				return Frame{}, ErrFrameMalformed
			}
			f.Width = int(binary.LittleEndian.Uint16(a.buf[6:]) & 0x3fff)
			f.Height = int(binary.LittleEndian.Uint16(a.buf[8:]) & 0x3fff)
		}
	case VP9:
		var h vp9.Header
		if err := h.Unmarshal(a.buf); err != nil {
			return Frame{}, ErrFrameMalformed
		}
		f.Key = !h.NonKeyFrame && !h.ShowExistingFrame
		f.VP9 = &h
		if f.Key && h.FrameSize != nil {
			f.Width, f.Height = h.Width(), h.Height()
		}
	case AV1:
		if a.av1.Y || len(a.buf) == 0 {
			// The last packet's Y: its last OBU continues in a packet
			// that never came, so the temporal unit ended inside it.
			return Frame{}, ErrFrameIncomplete
		}
		out, err := a.av1Sample(&f)
		if err != nil {
			return Frame{}, err
		}
		f.Data = out
	}
	return f, nil
}

// av1Sample checks the temporal unit's OBUs in place, drops temporal
// delimiters (an av01 sample must not hold them) and finds the sequence
// header. It compacts a.buf rather than copying: a temporal unit is
// walked once and allocates only when it holds a sequence header (the
// parsed header).
func (a *Assembler) av1Sample(f *Frame) ([]byte, error) {
	buf := a.buf
	out := buf[:0]
	seqAt, seqEnd := -1, -1
	for off := 0; off < len(buf); {
		h := buf[off]
		if h&0x80 != 0 || h&0x02 == 0 {
			// The forbidden bit, or an OBU without its size field (the
			// depacketizer writes every size).
			return nil, ErrFrameMalformed
		}
		hl := 1 + int(h>>2&1) // the extension byte, if any
		if off+hl > len(buf) {
			return nil, ErrFrameMalformed
		}
		var size av1.LEB128
		n, err := size.Unmarshal(buf[off+hl:])
		if err != nil {
			return nil, ErrFrameMalformed
		}
		end := off + hl + n + int(size)
		if end > len(buf) || end <= off {
			return nil, ErrFrameMalformed
		}
		switch (h >> obuTypeShift) & obuTypeMask {
		case OBUTemporalDelimiter:
			off = end
			continue
		case OBUSequenceHeader:
			if seqAt < 0 {
				seqAt, seqEnd = len(out), len(out)+end-off
			}
		}
		// out never passes off, so this moves bytes down in place.
		out = append(out, buf[off:end]...)
		off = end
	}
	if len(out) == 0 {
		return nil, ErrFrameIncomplete
	}
	if seqAt >= 0 {
		var sh av1.SequenceHeader
		if err := sh.Unmarshal(out[seqAt:seqEnd]); err != nil {
			return nil, ErrFrameMalformed
		}
		f.Key, f.AV1 = true, &sh
		f.Width, f.Height = sh.Width(), sh.Height()
		f.SequenceHeader = out[seqAt:seqEnd]
	}
	return out, nil
}
