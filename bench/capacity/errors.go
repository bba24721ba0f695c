package capacity

import "errors"

var (
	// ErrDaemon means the daemon did not start, or died.
	ErrDaemon = errors.New("capacity: daemon failed")
	// ErrFloor means the floor receiver did not start or report.
	ErrFloor = errors.New("capacity: floor receiver failed")
	// ErrProc means a /proc file could not be read or parsed.
	ErrProc = errors.New("capacity: bad /proc data")
)
