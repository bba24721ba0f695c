package floor

import "errors"

// ErrNoPorts means the receiver was given no ports to listen on.
var ErrNoPorts = errors.New("floor: no ports")
