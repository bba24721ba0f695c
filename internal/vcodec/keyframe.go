package vcodec

import (
	"encoding/binary"

	"github.com/ars-project/ars/internal/transcode/h264"
)

// IsKeyframeStart reports whether an RTP payload of codec c is the first
// packet of a keyframe: the picture a recording (or a decoder after loss)
// can start at. It reads a few bytes and never allocates: it is on the
// packet path for video streams still waiting for their first keyframe.
func IsKeyframeStart(c Codec, payload []byte) bool {
	switch c {
	case H264:
		return h264KeyframeStart(payload)
	case VP8:
		return vp8KeyframeStart(payload)
	case VP9:
		return vp9KeyframeStart(payload)
	case AV1:
		return av1KeyframeStart(payload)
	}
	return false
}

// h264KeyframeStart: an IDR slice or a sequence parameter set as a
// single NAL unit, inside a STAP-A, or in the first fragment of an FU-A
// (RFC 6184).
func h264KeyframeStart(pl []byte) bool {
	if len(pl) == 0 {
		return false
	}
	switch t := int(pl[0] & 0x1f); t {
	case h264.NALIDR, h264.NALSPS:
		return true
	case h264.NALSTAPA:
		for off := 1; off+2 < len(pl); {
			n := int(binary.BigEndian.Uint16(pl[off:]))
			if n == 0 || off+2+n > len(pl) {
				return false
			}
			if t := int(pl[off+2] & 0x1f); t == h264.NALIDR || t == h264.NALSPS {
				return true
			}
			off += 2 + n
		}
	case h264.NALFUA:
		if len(pl) > 1 && pl[1]&0x80 != 0 {
			t := int(pl[1] & 0x1f)
			return t == h264.NALIDR || t == h264.NALSPS
		}
	}
	return false
}

// VP8PayloadOffset returns where the VP8 payload starts after the payload
// descriptor (RFC 7741 section 4.2), and whether the packet starts a
// partition 0 (S set, PID 0): the only place a VP8 frame header is.
func VP8PayloadOffset(pl []byte) (off int, frameStart bool, ok bool) {
	if len(pl) < 1 {
		return 0, false, false
	}
	b0 := pl[0]
	off = 1
	if b0&0x80 != 0 { // X: extension byte
		if len(pl) < 2 {
			return 0, false, false
		}
		x := pl[1]
		off = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits (M)
			if len(pl) < off+1 {
				return 0, false, false
			}
			if pl[off]&0x80 != 0 {
				off += 2
			} else {
				off++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			off++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			off++
		}
	}
	if off > len(pl) {
		return 0, false, false
	}
	return off, b0&0x10 != 0 && b0&0x07 == 0, true
}

// vp8KeyframeStart: the start of partition 0 whose frame tag has the
// inverse key-frame bit clear (RFC 6386 section 9.1).
func vp8KeyframeStart(pl []byte) bool {
	off, start, ok := VP8PayloadOffset(pl)
	return ok && start && off < len(pl) && pl[off]&0x01 == 0
}

// vp9KeyframeStart: the first packet (B) of a frame that uses no
// inter-picture prediction (P clear) in the base spatial layer (RFC 9628
// section 4.2), whose uncompressed header, when the descriptor lets it be
// found, says key frame: some packetizers (ffmpeg's) never set P, so the
// descriptor alone would call every frame a keyframe.
func vp9KeyframeStart(pl []byte) bool {
	if len(pl) < 1 {
		return false
	}
	b0 := pl[0]
	if b0&0x08 == 0 || b0&0x40 != 0 { // B clear, or P set
		return false
	}
	off := 1
	if b0&0x80 != 0 { // I: picture ID, 7 or 15 bits (M)
		if len(pl) < 2 {
			return false
		}
		if pl[1]&0x80 != 0 {
			off += 2
		} else {
			off++
		}
	}
	if b0&0x20 != 0 { // L: layer indices
		if off >= len(pl) || (pl[off]>>1)&0x07 != 0 { // SID
			return false
		}
		off++
		if b0&0x10 == 0 { // non-flexible mode: TL0PICIDX
			off++
		}
	}
	if b0&0x02 != 0 {
		// V: a scalability structure follows, of variable length; the
		// descriptor's P bit has to do.
		return true
	}
	if off >= len(pl) {
		return false
	}
	return vp9HeaderIsKey(pl[off])
}

// vp9HeaderIsKey reads the first byte of a VP9 uncompressed header (VP9
// bitstream specification 6.2): frame_marker (2 bits, 2), profile (low
// bit first), a reserved zero for profile 3, show_existing_frame,
// frame_type (0: key frame).
func vp9HeaderIsKey(h byte) bool {
	if h>>6 != 2 {
		return false
	}
	profile := (h>>5)&1 | ((h>>4)&1)<<1
	shift := uint(3)
	if profile == 3 {
		shift = 2
	}
	showExisting, frameType := (h>>shift)&1, (h>>(shift-1))&1
	return showExisting == 0 && frameType == 0
}

// AV1 OBU types that matter here (AV1 bitstream specification 5.3.1).
const (
	OBUSequenceHeader         = 1
	OBUTemporalDelimiter      = 2
	obuTypeShift              = 3
	obuTypeMask          byte = 0x0f
)

// av1KeyframeStart: the aggregation header's N bit (the first packet of a
// coded video sequence), or a first OBU element that is a whole sequence
// header, which is how senders that never set N begin a keyframe.
func av1KeyframeStart(pl []byte) bool {
	if len(pl) < 2 {
		return false
	}
	agg := pl[0]
	if agg&0x08 != 0 { // N
		return true
	}
	if agg&0x80 != 0 { // Z: the first element continues an OBU
		return false
	}
	off := 1
	if (agg>>4)&0x03 != 1 {
		// Every element but a lone one (W = 1) has a LEB128 length.
		for i := 0; ; i++ {
			if off >= len(pl) || i == 8 {
				return false
			}
			b := pl[off]
			off++
			if b&0x80 == 0 {
				break
			}
		}
	}
	return off < len(pl) && (pl[off]>>obuTypeShift)&obuTypeMask == OBUSequenceHeader
}
