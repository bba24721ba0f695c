package rtpingest

import (
	"encoding/binary"

	"github.com/ars-project/ars/internal/vcodec"
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

// isKeyframe reports whether a valid RTP packet of a video stream in
// codec c starts a keyframe (vcodec knows each payload format). It is on
// the packet path for video streams still waiting for a keyframe: a few
// byte reads, no allocation.
func isKeyframe(c vcodec.Codec, b []byte) bool {
	return vcodec.IsKeyframeStart(c, rtpPayload(b))
}
