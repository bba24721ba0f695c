package connlimit

import "errors"

// ErrBadLimit is returned by New for a limit below 1.
var ErrBadLimit = errors.New("connection limits must be at least 1")
