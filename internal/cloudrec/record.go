package cloudrec

import "time"

// The session record: what the state store keeps of a running recording
// (persist.go says when it is written), so that a restart carries it on
// (resume.go). sessionState is that part of the recorder; record makes
// the stored sessionRecord of it and restoreState brings it back.

// checkpointEvery spaces the saves of a running recording's counters and
// webhook sequence.
const checkpointEvery = 5 * time.Second

// seqJump is how far a resumed recording's webhook sequence jumps past the
// last one saved: events sent after the last checkpoint must not have
// their numbers used again, since receivers de-duplicate by sid and
// sequence. Far more than a recording sends in checkpointEvery.
const seqJump = 1000

// sessionState is the part of a recorder the session record keeps,
// besides its identity (rid, sid, cname, uid, started).
type sessionState struct {
	// mode, request and failovers are set before the recorder runs and
	// never change.
	mode      string
	request   startRequest
	failovers int
	// Under recorder.mu: the subscriptions and layout as last updated
	// (the worker holds its own copy of the subscriptions), the file
	// list, the upload counters, and the cause of an exit under way.
	savedSubs   subscription
	savedLayout *layoutFields
	files       []fileInfo
	total       int
	uploaded    int
	backuped    bool
	stopping    string
	// seq is the last webhook sequence number sent, under recorder.evMu.
	seq int
}

// sessionRecord is a running recording.
type sessionRecord struct {
	RID   string `json:"rid"`
	SID   string `json:"sid"`
	Cname string `json:"cname"`
	UID   string `json:"uid"`
	Mode  string `json:"mode"`
	// Request is the start request as accepted; settings are derived from
	// it again on resume, with the updates below.
	Request startRequest  `json:"request"`
	Started time.Time     `json:"started"`
	Audio   filterRecord  `json:"audio"`
	Video   filterRecord  `json:"video"`
	Layout  *layoutFields `json:"layout,omitempty"`
	// Failovers counts the restarts the recording went through; a mix
	// composite's files after the n-th carry Agora's "bak<n-1>_" prefix.
	Failovers int        `json:"failovers"`
	Seq       int        `json:"seq"`
	Files     []fileInfo `json:"files"`
	Total     int        `json:"total"`
	Uploaded  int        `json:"uploaded"`
	Backuped  bool       `json:"backuped"`
	// Stopping is the cause of an exit that had begun (a stop, idleness):
	// after a restart the recording is finished, not resumed.
	Stopping string `json:"stopping,omitempty"`
	// Suspended: the daemon stopped gracefully (SIGTERM) and every track
	// was finished; otherwise it died.
	Suspended bool      `json:"suspended,omitempty"`
	Saved     time.Time `json:"saved"`
	// Format is the individual-mode segment format the recording began
	// with, formatTS or formatFMP4, so that a restart (or an upgrade that
	// changed the default) continues its playlists in the same format.
	Format string `json:"format,omitempty"`
}

// record is what the store keeps of r now.
func (r *recorder) record() sessionRecord {
	r.mu.Lock()
	rec := sessionRecord{RID: r.rid, SID: r.sid, Cname: r.cname, UID: r.uidStr, Mode: r.mode, Request: r.request,
		Started: r.started, Audio: recordFilter(r.savedSubs.audio), Video: recordFilter(r.savedSubs.video),
		Layout: r.savedLayout, Failovers: r.failovers, Files: append([]fileInfo{}, r.files...), Total: r.total,
		Uploaded: r.uploaded, Backuped: r.backuped, Stopping: r.stopping, Saved: r.svc.now(),
		Format: formatTS}
	if r.settings.fmp4 {
		rec.Format = formatFMP4
	}
	r.mu.Unlock()
	r.evMu.Lock()
	rec.Seq = r.seq
	r.evMu.Unlock()
	return rec
}

// restoreState brings back what rec kept, for a recorder made again from
// it (resume.go): the sequence jumps past the numbers that may have been
// sent since the last save, and this run is one more failover.
func (r *recorder) restoreState(rec sessionRecord) {
	r.mode, r.request, r.savedLayout = rec.Mode, rec.Request, rec.Layout
	r.started = rec.Started
	r.files, r.total, r.uploaded, r.backuped = rec.Files, rec.Total, rec.Uploaded, rec.Backuped
	r.seq = rec.Seq + seqJump
	r.failovers = rec.Failovers + 1
}

// save writes r's record; without a store it does nothing.
func (r *recorder) save() error {
	if !r.svc.durable {
		return nil
	}
	return r.svc.sesTab.Put(r.sid, r.record())
}

// saveOrCount saves r where no request waits for the outcome: a failure
// is counted and logged, and the next checkpoint tries again.
func (r *recorder) saveOrCount() {
	if err := r.save(); err != nil {
		if m := r.svc.m; m != nil {
			m.StateErrors.WithLabelValues("cloudrec").Inc()
		}
		r.svc.log.Warn("cloud recording state not saved", "sid", r.sid, "error", err)
	}
}

// checkpoint saves r if its counters or sequence moved (worker tick).
func (r *recorder) checkpoint(now time.Time) {
	if !r.svc.durable || now.Sub(r.lastSave) < checkpointEvery {
		return
	}
	r.lastSave = now
	r.mu.Lock()
	r.evMu.Lock()
	mark := [4]int{r.seq, r.total, r.uploaded, len(r.files)}
	r.evMu.Unlock()
	r.mu.Unlock()
	if mark == r.saveMark {
		return
	}
	r.saveMark = mark
	r.saveOrCount()
}

// forgetRecord removes r from the store once it has ended.
func (r *recorder) forgetRecord() {
	if !r.svc.durable {
		return
	}
	if err := r.svc.sesTab.Delete(r.sid); err != nil {
		if m := r.svc.m; m != nil {
			m.StateErrors.WithLabelValues("cloudrec").Inc()
		}
		r.svc.log.Warn("cloud recording not forgotten in the state store", "sid", r.sid, "error", err)
	}
}
