package pprofserver

import "errors"

// ErrNotLoopback is returned for a listen address that is not loopback.
var ErrNotLoopback = errors.New("pprof address must be a loopback address such as 127.0.0.1:6060")
