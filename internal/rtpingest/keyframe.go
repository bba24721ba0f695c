package rtpingest

import (
	"encoding/binary"

	"github.com/ars-project/ars/internal/transcode/h264"
)

// rtpPayload returns an RTP packet's payload (after CSRCs and extension,
// without padding), or nil. b has passed validRTP.
func rtpPayload(b []byte) []byte {
	hdr := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < hdr+4 {
			return nil
		}
		hdr += 4 + 4*int(binary.BigEndian.Uint16(b[hdr+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if hdr >= end {
		return nil
	}
	return b[hdr:end]
}

// isH264Keyframe reports whether a valid RTP packet's H.264 payload (RFC
// 6184) starts a keyframe: an IDR slice or a sequence parameter set as a
// single NAL unit, inside a STAP-A, or in the first fragment of an FU-A.
// It is on the packet path for video streams still waiting for a
// keyframe: a few byte reads, no allocation.
func isH264Keyframe(b []byte) bool {
	pl := rtpPayload(b)
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
