package transcode

import "encoding/binary"

// rtpPacket is a parsed RTP header. payload aliases the record buffer.
type rtpPacket struct {
	marker  bool
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// parseRTP parses an RTP packet without copying, honouring CSRCs, the
// header extension and padding (RFC 3550 section 5.1). A packet of
// padding only parses fine and has an empty payload.
func parseRTP(b []byte, p *rtpPacket) error {
	if len(b) < 12 || b[0]>>6 != 2 {
		return errBadRTP
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return errBadRTP
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		if end == 0 {
			return errBadRTP
		}
		pad := int(b[end-1])
		if pad == 0 {
			return errBadRTP
		}
		end -= pad
	}
	if off > end {
		return errBadRTP
	}
	p.marker = b[1]&0x80 != 0
	p.pt = b[1] & 0x7f
	p.seq = binary.BigEndian.Uint16(b[2:])
	p.ts = binary.BigEndian.Uint32(b[4:])
	p.ssrc = binary.BigEndian.Uint32(b[8:])
	p.payload = b[off:end]
	return nil
}

// isRTCP tells RTCP from RTP by payload type (RFC 5761 section 4), for
// captures where a muxed RTCP packet was recorded as RTP.
func isRTCP(b []byte) bool {
	return len(b) >= 2 && b[1] >= 192 && b[1] <= 223
}

// unwrapper extends a wrapping counter of the given bit width to 64 bits,
// choosing the value nearest the previous one: a jump of more than half
// the range is taken as a wrap.
type unwrapper struct {
	last  int64
	valid bool
}

func (u *unwrapper) unwrap16(v uint16) int64 {
	if !u.valid {
		u.last, u.valid = int64(v), true
		return u.last
	}
	d := int64(int16(v - uint16(u.last)))
	u.last += d
	return u.last
}

func (u *unwrapper) unwrap32(v uint32) int64 {
	if !u.valid {
		u.last, u.valid = int64(v), true
		return u.last
	}
	d := int64(int32(v - uint32(u.last)))
	u.last += d
	return u.last
}

// nearest32 extends v to the 64-bit value nearest ref without updating
// any state (for timestamps in RTCP reports).
func nearest32(ref int64, v uint32) int64 {
	return ref + int64(int32(v-uint32(ref)))
}
