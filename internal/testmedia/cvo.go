package testmedia

import (
	"encoding/binary"
	"slices"
)

// WithCVO returns s with the camera orientation byte cvo (vcodec.ParseCVO)
// in a one-byte RTP header extension element of ID id (RFC 8285) on the
// last packet of every frame from packet index from on, as libwebrtc
// sends it. Packets must have no extension yet.
func WithCVO(s Stream, id uint8, from int, cvo byte) Stream {
	out := s.Clone()
	for i := range out.Packets {
		if i < from {
			continue
		}
		last := i == len(out.Packets)-1 || tsOf(out.Packets[i+1].Data) != tsOf(out.Packets[i].Data)
		if !last {
			continue
		}
		p := out.Packets[i].Data
		if p[0]&0x10 != 0 {
			continue
		}
		hdr := 12 + 4*int(p[0]&0x0f)
		ext := []byte{0xBE, 0xDE, 0, 1, id<<4 | 0, cvo, 0, 0}
		q := slices.Concat(p[:hdr], ext, p[hdr:])
		q[0] |= 0x10
		binary.BigEndian.PutUint16(q[hdr+2:], 1)
		out.Packets[i].Data = q
	}
	return out
}
