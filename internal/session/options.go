package session

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/state"
)

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithIdleTimeout sets how long a participant or recording may receive no
// media before it ends.
func WithIdleTimeout(d time.Duration) Option { return func(m *Manager) { m.idleTimeout = d } }

// WithCrashBuffers keeps every capture's write buffer in a file in dir (a
// tmpfs that outlives the process), so that a crash of the daemon loses
// none of what it had received; Start appends what buffers a crash left to
// their captures before anything else reads them. Empty: heap buffers.
func WithCrashBuffers(dir string) Option { return func(m *Manager) { m.crashDir = dir } }

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

// WithMaxTotalParticipants bounds the participants of all channels
// together (0: no bound).
func WithMaxTotalParticipants(n int) Option { return func(m *Manager) { m.maxTotal = n } }

// WithMaxJoinsPerClient bounds the participants joined by one client
// address (0: no bound).
func WithMaxJoinsPerClient(n int) Option { return func(m *Manager) { m.maxPerClient = n } }

// WithMaxChannels bounds the channels held at once (0: no bound).
func WithMaxChannels(n int) Option { return func(m *Manager) { m.maxChannels = n } }

// WithOpenWorkers sets how many capture files are opened at once, off the
// packet path.
func WithOpenWorkers(n int) Option { return func(m *Manager) { m.openWorkers = max(n, 1) } }

// WithCaptureQueue bounds the packets (count and bytes) a participant's
// first packets may queue while its capture file opens.
func WithCaptureQueue(packets, bytes int) Option {
	return func(m *Manager) { m.pendPackets, m.pendBytes = max(packets, 1), max(bytes, 1) }
}

// WithState keeps every recording in b before its start is answered, so
// that the next daemon on the same store resumes it in the same directory.
// A graceful Close then suspends recordings instead of ending them.
func WithState(b state.Backend) Option {
	return func(m *Manager) {
		if b != nil {
			t := state.NewTable[recordingRecord](b, recordingsBucket)
			m.recs = &t
		}
	}
}

// JoinOption qualifies one Join.
type JoinOption func(*Participant)

// FromClient names the address that asked for the join, counted against
// the per-address cap.
func FromClient(a netip.Addr) JoinOption { return func(p *Participant) { p.client = a.Unmap() } }

// Restored makes the join the return of a participant a restart
// interrupted: it keeps its ID and join time.
func Restored(id string, since time.Time) JoinOption {
	return func(p *Participant) { p.id, p.since = id, since }
}
