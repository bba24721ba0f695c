package vcodec

import "github.com/ars-project/ars/internal/storage"

// Codec is a video codec ars records.
type Codec uint8

// The recorded video codecs. Unknown is the zero value: a stream whose
// codec is not video, or not one of these.
const (
	Unknown Codec = iota
	H264
	VP8
	VP9
	AV1
)

// ClockRate is the RTP clock of every video payload format (each RFC
// fixes it at 90 kHz).
const ClockRate = 90000

// preferred lists the recorded video codecs in ars' order of preference:
// H.264 first (every player and the composite pipeline's cheapest
// decoder), then the rest by how widely players take them in MP4.
var preferred = [...]Codec{H264, VP8, VP9, AV1}

// All returns the recorded video codecs in order of preference.
func All() []Codec { return preferred[:] }

// FromName maps a codec name, in any letter case, to a Codec: the SDP
// names (H264, VP8, VP9, AV1) and the capture header's spelling, which is
// the same. Anything else is Unknown.
func FromName(name string) Codec {
	for _, c := range preferred {
		if equalFold(name, c.Name()) {
			return c
		}
	}
	// AV1X was the SDP name of AV1 before the payload format was final;
	// old Chromium builds still offer it.
	if equalFold(name, "AV1X") {
		return AV1
	}
	return Unknown
}

// Name is the codec's name as the capture header and SDP spell it.
func (c Codec) Name() string {
	switch c {
	case H264:
		return storage.CodecH264
	case VP8:
		return storage.CodecVP8
	case VP9:
		return storage.CodecVP9
	case AV1:
		return storage.CodecAV1
	}
	return ""
}

// MimeType is the codec's WebRTC MIME type ("video/VP8").
func (c Codec) MimeType() string {
	if c == Unknown {
		return ""
	}
	return "video/" + c.Name()
}

func (c Codec) String() string {
	if c == Unknown {
		return "unknown"
	}
	return c.Name()
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
