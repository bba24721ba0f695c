package mixfeed

import (
	"time"

	"golang.org/x/sys/unix"
)

// NewOrigin reads a live composite's PTS 0 on both clocks it is needed on:
// the time.Time for NewLive (Go's monotonic reading is CLOCK_MONOTONIC) and
// the CLOCK_MONOTONIC nanoseconds for mixproto.Config.OriginMonotonic, which
// the mixer maps onto its pipeline clock. The two are read back to back.
func NewOrigin() (time.Time, int64, error) {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Time{}, 0, err
	}
	return now, ts.Nano(), nil
}
