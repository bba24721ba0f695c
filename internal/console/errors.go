package console

import "errors"

var (
	// ErrBadSignature means a file URL was not signed by this daemon, was
	// altered, or has expired.
	ErrBadSignature = errors.New("file URL signature is invalid or expired")
	// ErrBadPath means a file path is not one of a recording's MP4s.
	ErrBadPath = errors.New("not a recording file path")
)
