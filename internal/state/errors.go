package state

import "errors"

// ErrClosed is returned by a Backend used after Close.
var ErrClosed = errors.New("state: store closed")

// ErrBadName is returned for an empty bucket or key.
var ErrBadName = errors.New("state: empty bucket or key")
