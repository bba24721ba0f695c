package transcode

import (
	"log/slog"
	"time"
)

// defaultReorderWindow is how long later packets wait for a missing one
// before it is given up as lost. Retransmissions answer NACKs within a
// round trip; a second covers bad links.
const defaultReorderWindow = time.Second

// reorderSlots is the capacity of a reorder buffer in packets. 1024
// packets is seconds of video at WebRTC bitrates, more than any
// retransmission takes.
const reorderSlots = 1024

// Option configures ConvertFile.
type Option func(*config)

type config struct {
	log           *slog.Logger
	tempDir       string
	reorderWindow time.Duration
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithTempDir sets where sample data is spooled during a conversion. The
// default is the directory of dst, which has room for the MP4 anyway
// (unlike /tmp, often a small tmpfs).
func WithTempDir(dir string) Option {
	return func(c *config) { c.tempDir = dir }
}

// WithReorderWindow sets how long (in arrival time) packets wait for a
// missing one before it counts as lost.
func WithReorderWindow(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.reorderWindow = d
		}
	}
}
