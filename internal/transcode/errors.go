package transcode

import "errors"

var (
	// ErrNoMedia means the capture holds nothing that could be put in an
	// MP4: no decodable H.264 picture and no Opus packet.
	ErrNoMedia = errors.New("capture holds no convertible media")
	// errBadRTP marks a packet that is not RTP version 2 or is cut short.
	errBadRTP = errors.New("malformed rtp packet")
)
