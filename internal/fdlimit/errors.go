package fdlimit

import "errors"

// ErrLimitTooSmall means the descriptor limit cannot hold the daemon's own
// sockets and a minimal HTTP budget.
var ErrLimitTooSmall = errors.New("the descriptor limit (RLIMIT_NOFILE) is too small")
