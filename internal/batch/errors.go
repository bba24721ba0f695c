package batch

import "errors"

var (
	// ErrNotCapture means a path given to convert is not named like a
	// capture (UID_HHMMSS.tmp).
	ErrNotCapture = errors.New("not a capture file name")
	// ErrReplaced means the .transcoding file was replaced or removed while
	// it was being written, so its content cannot be trusted.
	ErrReplaced = errors.New("transcoding file replaced during conversion")
	// ErrNoRoot means the pass has neither a recording root nor paths.
	ErrNoRoot = errors.New("no recording root")
)
