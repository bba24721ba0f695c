package session

import (
	"log/slog"
	"sync"

	"github.com/ars-project/ars/internal/metrics"
)

// participantDeps is what a participant uses of the manager that made it,
// handed over at Join: the participant sees these and nothing else of the
// manager, so what the packet path may touch is written down here (none
// of it takes the manager's lock).
type participantDeps struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	// queues pools the first-packet queues (the manager prewarms it).
	queues *sync.Pool
	// opens hands a participant whose first packets wait for their
	// capture file to the open workers; a send must not block.
	opens chan<- *Participant
	// owner is told what the participant cannot settle alone.
	owner participantOwner
	// crashDir is where capture buffers live ("" for the heap).
	crashDir string
}

// participantOwner is what a participant reports to its manager: a failed
// recording (its Metadata.txt is marked once, for the whole channel), a
// capture to finalise (converted after), and its own leaving (which may
// stop the channel's recording).
type participantOwner interface {
	recordingFailed(rec *recording, cause error)
	finishCapture(c *capture)
	leave(p *Participant, reason string)
}

// participantDeps is what the manager's participants are given.
func (m *Manager) participantDeps() participantDeps {
	return participantDeps{log: m.log, metrics: m.metrics, queues: &m.queues, opens: m.opens, owner: m, crashDir: m.crashDir}
}
