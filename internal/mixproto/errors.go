package mixproto

import "errors"

var (
	// ErrFrameTooLarge is a frame whose declared body exceeds MaxBody.
	ErrFrameTooLarge = errors.New("mixproto: frame too large")
	// ErrShortBody is a media body shorter than its fixed header.
	ErrShortBody = errors.New("mixproto: media body too short")
	// ErrBadUnit is a media unit whose size or duration is out of bounds.
	ErrBadUnit = errors.New("mixproto: media unit out of bounds")
	// ErrUnknownType is a frame type this version does not know.
	ErrUnknownType = errors.New("mixproto: unknown frame type")
	// ErrUnknownCodec is a video unit whose flags name a codec this
	// version does not know.
	ErrUnknownCodec = errors.New("mixproto: unknown video codec")
	// ErrBadConfig is a Config or Layout that cannot be composed.
	ErrBadConfig = errors.New("mixproto: invalid config")
)

var (
	// ErrBadSnapshot is a TypeSnapshot or TypeSnapResult body that does
	// not say what the protocol allows (snapshot.go).
	ErrBadSnapshot = errors.New("mixproto: invalid snapshot frame")
)
