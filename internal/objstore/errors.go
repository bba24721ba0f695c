package objstore

import "errors"

var (
	// ErrClosed means the uploader was closed.
	ErrClosed = errors.New("objstore: uploader closed")
	// ErrBadKey means an object key that would escape its bucket or
	// directory.
	ErrBadKey = errors.New("objstore: bad object key")
	// ErrBadDestination means a destination that cannot be opened.
	ErrBadDestination = errors.New("objstore: bad destination")
)
