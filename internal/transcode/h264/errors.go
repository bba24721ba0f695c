package h264

import "errors"

var (
	// ErrTruncated means a payload ends inside a header or an aggregated NAL unit.
	ErrTruncated = errors.New("h264: truncated payload")
	// ErrUnsupported means a payload type the recorder does not handle
	// (STAP-B, MTAP, FU-B: interleaved mode).
	ErrUnsupported = errors.New("h264: unsupported packetization")
	// ErrFragment means an FU-A fragment arrived without its start: the NAL
	// unit it belongs to is lost.
	ErrFragment = errors.New("h264: fragment without start")
	// ErrForbiddenBit means the NAL header's forbidden_zero_bit is set.
	ErrForbiddenBit = errors.New("h264: forbidden bit set")
)
