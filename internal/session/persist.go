package session

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// recordingsBucket holds one recordingRecord per recording channel.
const recordingsBucket = "session.recordings"

// recordingRecord is what a restart needs to carry a recording on in the
// same directory.
type recordingRecord struct {
	Channel   string    `json:"channel"`
	Dir       string    `json:"dir"`
	Tag       string    `json:"tag,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	StartedBy uint32    `json:"startedBy"`
	Status    string    `json:"status,omitempty"`
	// Suspended is set by a graceful shutdown: the next start resumes the
	// recording as "resumed"; without it the daemon died
	// ("interrupted,resumed").
	Suspended bool `json:"suspended,omitempty"`
}

// Metadata.txt error statuses a resume adds.
const (
	StatusResumed = "resumed"
)

func (r *recording) record(suspended bool) recordingRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recordingRecord{Channel: r.channel, Dir: r.dir, Tag: r.tag, StartedAt: r.startedAt, StartedBy: r.startedBy,
		Status: r.status, Suspended: suspended}
}

// addStatus appends one status to a comma-separated error status, once.
func addStatus(status, s string) string {
	if status == "" {
		return s
	}
	if slices.Contains(strings.Split(status, ","), s) {
		return status
	}
	return status + "," + s
}

// persist writes a recording's record; without a store it does nothing.
func (m *Manager) persist(rec *recording, suspended bool) error {
	if m.recs == nil {
		return nil
	}
	if err := m.recs.Put(rec.channel, rec.record(suspended)); err != nil {
		m.metrics.StateErrors.WithLabelValues("session").Inc()
		return fmt.Errorf("persist recording: %w", err)
	}
	return nil
}

func (m *Manager) forget(channel string) {
	if m.recs == nil {
		return
	}
	if err := m.recs.Delete(channel); err != nil {
		m.metrics.StateErrors.WithLabelValues("session").Inc()
		m.log.Error("state: could not forget a stopped recording", "channel", channel, "err", err)
	}
}

// restoreRecordings brings back the recordings the store holds whose
// directory is still marked active, and returns those directories; the
// rest of the store's recordings are forgotten.
func (m *Manager) restoreRecordings() (map[string]bool, error) {
	restored := map[string]bool{}
	if m.recs == nil {
		return restored, nil
	}
	tb := m.recs
	recs, bad, err := tb.All()
	if err != nil {
		return nil, err
	}
	for k, err := range bad {
		m.log.Error("state: a recording record does not decode; forgotten", "channel", k, "err", err)
		_ = tb.Delete(k)
	}
	now := time.Now()
	type resumed struct {
		name string
		rr   recordingRecord
		rec  *recording
	}
	var todo []*resumed
	for name, rr := range recs {
		if !m.layout.Contains(rr.Dir) || !storage.IsActive(rr.Dir) || storage.ValidateChannelName(name) != nil {
			m.log.Warn("state: a recording's directory is gone or closed; not resumed", "channel", name, "dir", rr.Dir)
			_ = tb.Delete(name)
			continue
		}
		todo = append(todo, &resumed{name: name, rr: rr})
	}
	// Metadata.txt and the store are written (and fsync'd) for every
	// recording side by side: the RTP readers wait for this, so it is
	// the outage of a planned restart.
	errs := make([]error, len(todo))
	inParallel(len(todo), func(i int) {
		t := todo[i]
		name, rr := t.name, t.rr
		// Metadata.txt has the latest error status (a write failure is
		// written there, not to the store).
		status := rr.Status
		if md, err := storage.ReadMetadata(rr.Dir); err == nil {
			status = md.ErrorStatus
		}
		if !rr.Suspended {
			status = addStatus(status, storage.StatusInterrupted)
		}
		status = addStatus(status, StatusResumed)
		rec := &recording{dir: rr.Dir, tag: rr.Tag, startedAt: rr.StartedAt, startedBy: rr.StartedBy, channel: name,
			status: status, resumedAt: now}
		if err := storage.WriteMetadata(rec.dir, rec.metadata(name)); err != nil {
			errs[i] = fmt.Errorf("resume recording %s: %w", rec.dir, err)
			return
		}
		errs[i] = m.persist(rec, false)
		t.rec = rec
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, t := range todo {
		name, rr, rec, status := t.name, t.rr, t.rec, t.rec.status
		if !rr.Suspended {
			m.repairOrphans(rec.dir)
		}
		ch, err := m.channelLocked(name)
		if err != nil {
			return nil, err
		}
		ch.rec.Store(rec)
		m.metrics.RecordingChannels.Inc()
		m.metrics.RecordingsResumed.Inc()
		restored[filepath.Clean(rec.dir)] = true
		m.log.Warn("recording resumed", "channel", name, "dir", rec.dir, "error_status", status, "clean_shutdown", rr.Suspended)
	}
	return restored, nil
}

// repairOrphans hands the captures a crash left in dir (no writer holds
// their lock) to conversion; the conversion reads them up to their last
// intact record.
func (m *Manager) repairOrphans(dir string) {
	if m.captureClosed == nil {
		return
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*"+storage.CaptureExt))
	for _, path := range matches {
		if live, err := storage.IsLive(path); err == nil && !live {
			m.captureClosed(path)
		}
	}
}
