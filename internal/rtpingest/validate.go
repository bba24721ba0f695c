package rtpingest

import "encoding/binary"

// isRTCP tells RTCP from RTP on a multiplexed port (RFC 5761 §4): RTCP
// packet types 192-223 occupy what would be RTP payload types 64-95.
func isRTCP(b []byte) bool {
	return len(b) >= 2 && b[1] >= 192 && b[1] <= 223
}

// validRTP checks the fixed header, CSRCs, extension and padding lengths.
func validRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	hdr := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < hdr+4 {
			return false
		}
		hdr += 4 + 4*int(binary.BigEndian.Uint16(b[hdr+2:]))
	}
	if hdr > len(b) {
		return false
	}
	if b[0]&0x20 != 0 {
		pad := int(b[len(b)-1])
		if pad == 0 || hdr+pad > len(b) {
			return false
		}
	}
	return true
}

// validRTCP checks that a compound RTCP packet's lengths tile it exactly.
func validRTCP(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	for off := 0; off < len(b); {
		if len(b)-off < 4 || b[off]>>6 != 2 {
			return false
		}
		n := (int(binary.BigEndian.Uint16(b[off+2:])) + 1) * 4
		if off+n > len(b) {
			return false
		}
		off += n
	}
	return true
}

// forEachBye calls f with every SSRC an RTCP BYE in the compound packet names.
func forEachBye(b []byte, f func(ssrc uint32)) {
	for off := 0; off+4 <= len(b); {
		n := (int(binary.BigEndian.Uint16(b[off+2:])) + 1) * 4
		if off+n > len(b) {
			return
		}
		if b[off+1] == 203 {
			count := int(b[off] & 0x1f)
			for i := 0; i < count && off+8+4*i <= off+n; i++ {
				f(binary.BigEndian.Uint32(b[off+4+4*i:]))
			}
		}
		off += n
	}
}
