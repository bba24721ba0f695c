package session

import (
	"sync"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// recording is one recording of a channel, from start to stop.
type recording struct {
	channel   string
	dir       string
	tag       string
	startedAt time.Time
	startedBy uint32
	// resumedAt is when a restart brought the recording back (zero if it
	// never was): the idle rule counts from it.
	resumedAt time.Time

	mu     sync.Mutex
	status string // Metadata.txt error status; "" while fine
}

func (r *recording) metadata(channel string) storage.Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	return storage.Metadata{Tag: r.tag, ChannelName: channel, ErrorStatus: r.status}
}

// setStatus records the first error status; it reports whether it changed.
func (r *recording) setStatus(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status != "" {
		return false
	}
	r.status = s
	return true
}

// idleFrom is when the recording's idle time starts counting.
func (r *recording) idleFrom() time.Time {
	if r.resumedAt.After(r.startedAt) {
		return r.resumedAt
	}
	return r.startedAt
}

// RecordingInfo is what the API reports about a recording.
type RecordingInfo struct {
	Channel   string
	StartedAt time.Time
	Directory string
	Tag       string
	Status    string
}

func (r *recording) info(channel string) RecordingInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RecordingInfo{Channel: channel, StartedAt: r.startedAt, Directory: r.dir, Tag: r.tag, Status: r.status}
}
