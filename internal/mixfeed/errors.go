package mixfeed

import "errors"

var (
	// ErrNoCaptures is a directory without a finished capture.
	ErrNoCaptures = errors.New("mixfeed: no finished capture in the directory")
	// ErrNoMedia is a directory whose captures hold no usable media.
	ErrNoMedia = errors.New("mixfeed: the captures hold no usable media")
)
