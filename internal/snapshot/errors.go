package snapshot

import "errors"

var (
	// ErrClosed is a Snapshotter used after Close, or one that gave up
	// restarting its child.
	ErrClosed = errors.New("snapshot: snapshotter closed")
	// ErrChildFailed is a request the child never answered: it died or
	// hung while it held it.
	ErrChildFailed = errors.New("snapshot: the snapshotter process failed")
	// ErrNoPicture is a keyframe the child could not decode.
	ErrNoPicture = errors.New("snapshot: no picture from the keyframe")
	// ErrTooLarge is a JPEG beyond the configured bound.
	ErrTooLarge = errors.New("snapshot: JPEG too large")
)
