package session

import (
	"log/slog"
	"time"

	"github.com/ars-project/ars/internal/metrics"
)

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithIdleTimeout sets how long a participant or recording may receive no
// media before it ends.
func WithIdleTimeout(d time.Duration) Option { return func(m *Manager) { m.idleTimeout = d } }

// WithFlushInterval sets how often capture buffers are handed to the kernel.
func WithFlushInterval(d time.Duration) Option { return func(m *Manager) { m.flushInterval = d } }

// WithMetrics sets the instruments.
func WithMetrics(mt *metrics.Metrics) Option { return func(m *Manager) { m.metrics = mt } }

// WithCaptureClosed is called, off the packet path, with the path of every
// capture file that was finalised (for conversion to MP4).
func WithCaptureClosed(f func(path string)) Option {
	return func(m *Manager) { m.captureClosed = f }
}

// WithMaxParticipants bounds the participants of one channel.
func WithMaxParticipants(n int) Option { return func(m *Manager) { m.maxParticipants = n } }
