package vcodec

import "encoding/binary"

// CVOURI names the RTP header extension that carries the camera's
// orientation (3GPP TS 26.114 section 7.4.5), as SDP's a=extmap spells it.
const CVOURI = "urn:3gpp:video-orientation"

// Orientation is what a CVO byte (0 0 0 0 C F R1 R0) says: how the
// receiver must turn the decoded picture to show it upright.
//
// Rotation follows libwebrtc, which is what phones and browsers that send
// CVO run: R1R0 = 1 means "rotate 90 degrees clockwise to display"
// (webrtc::ConvertCVOByteToVideoRotation). TS 26.114's table words it
// from the camera's side; every sender in the field agrees with
// libwebrtc, so ars does too.
type Orientation struct {
	// Rotation is the clockwise display rotation in degrees: 0, 90, 180
	// or 270.
	Rotation int
	// Flip mirrors the picture left-right after the rotation.
	Flip bool
	// BackCamera is the C bit: informational, it does not change the
	// picture.
	BackCamera bool
}

// ParseCVO decodes a CVO byte.
func ParseCVO(b byte) Orientation {
	return Orientation{Rotation: 90 * int(b&0x03), Flip: b&0x04 != 0, BackCamera: b&0x08 != 0}
}

// Byte is the CVO byte that says o.
func (o Orientation) Byte() byte {
	b := byte(o.Rotation/90) & 0x03
	if o.Flip {
		b |= 0x04
	}
	if o.BackCamera {
		b |= 0x08
	}
	return b
}

// Turned reports whether o changes the picture at all (the camera bit
// alone does not).
func (o Orientation) Turned() bool { return o.Rotation != 0 || o.Flip }

// SameView reports whether a and b show the picture the same way.
func (o Orientation) SameView(p Orientation) bool {
	return o.Rotation == p.Rotation && o.Flip == p.Flip
}

// SwapsSides reports whether the displayed picture is the coded one on
// its side (90 or 270 degrees).
func (o Orientation) SwapsSides() bool { return o.Rotation == 90 || o.Rotation == 270 }

// Matrix is the ISO BMFF display matrix (tkhd, 14496-12 section 8.3.2)
// that shows a w x h coded picture as o says: a, b, u, c, d, v, x, y, w
// with a-d, x and y in 16.16 fixed point and u, v, w in 2.30. A point
// (p, q) of the coded picture is shown at (a*p + c*q + x, b*p + d*q + y).
func (o Orientation) Matrix(w, h int) [9]int32 {
	const one = 1 << 16
	var a, b, c, d, x, y int32
	switch o.Rotation {
	case 90: // (p, q) -> (h - q, p)
		b, c, x = one, -one, int32(h)*one
	case 180: // (p, q) -> (w - p, h - q)
		a, d, x, y = -one, -one, int32(w)*one, int32(h)*one
	case 270: // (p, q) -> (q, w - p)
		b, c, y = -one, one, int32(w)*one
	default:
		a, d = one, one
	}
	if o.Flip {
		dw := int32(w)
		if o.SwapsSides() {
			dw = int32(h)
		}
		a, c, x = -a, -c, dw*one-x
	}
	return [9]int32{a, b, 0, c, d, 0, x, y, 1 << 30}
}

// HeaderExtension returns the data of the RTP header extension element
// with the given ID (RFC 8285, one-byte and two-byte forms) in the RTP
// packet pkt, or ok false. pkt need not be valid; the function never
// reads outside it.
func HeaderExtension(pkt []byte, id uint8) (data []byte, ok bool) {
	if id == 0 || len(pkt) < 12 || pkt[0]>>6 != 2 || pkt[0]&0x10 == 0 {
		return nil, false
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if len(pkt) < off+4 {
		return nil, false
	}
	profile := binary.BigEndian.Uint16(pkt[off:])
	end := off + 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	if end > len(pkt) {
		return nil, false
	}
	ext := pkt[off+4 : end]
	switch {
	case profile == 0xBEDE:
		for i := 0; i < len(ext); {
			eid, l := ext[i]>>4, int(ext[i]&0x0f)+1
			if eid == 0 { // padding
				i++
				continue
			}
			if eid == 15 { // reserved: stop (RFC 8285 section 4.2)
				return nil, false
			}
			if i+1+l > len(ext) {
				return nil, false
			}
			if eid == id {
				return ext[i+1 : i+1+l], true
			}
			i += 1 + l
		}
	case profile&0xfff0 == 0x1000:
		for i := 0; i < len(ext); {
			eid := ext[i]
			if eid == 0 {
				i++
				continue
			}
			if i+2 > len(ext) {
				return nil, false
			}
			l := int(ext[i+1])
			if i+2+l > len(ext) {
				return nil, false
			}
			if eid == id {
				return ext[i+2 : i+2+l], true
			}
			i += 2 + l
		}
	}
	return nil, false
}

// PacketOrientation reads the CVO of an RTP packet whose CVO element has
// the given ID.
func PacketOrientation(pkt []byte, id uint8) (Orientation, bool) {
	d, ok := HeaderExtension(pkt, id)
	if !ok || len(d) < 1 {
		return Orientation{}, false
	}
	return ParseCVO(d[0]), true
}
