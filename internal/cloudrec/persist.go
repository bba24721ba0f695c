package cloudrec

import (
	"net/http"
	"slices"
	"time"

	"github.com/ars-project/ars/internal/state"
)

// What a restart needs to carry a cloud recording on is kept in the
// durable state (internal/state), written before the request that changed
// it is answered: the resources acquired, and per running recording its
// start request as accepted (which holds the storage credentials: the
// store is 0600), its subscriptions and layout as updated, its file list
// and its webhook sequence. What changes with every file (upload counters,
// the sequence) is saved every checkpointEvery; which files reached
// storage is appended to the work directory's uploadedLog as it happens
// (resume.go).

// Buckets of the durable state.
const (
	bucketResources = "cloudrec.resources"
	bucketSessions  = "cloudrec.sessions"
)

// checkpointEvery spaces the saves of a running recording's counters and
// webhook sequence.
const checkpointEvery = 5 * time.Second

// seqJump is how far a resumed recording's webhook sequence jumps past the
// last one saved: events sent after the last checkpoint must not have
// their numbers used again, since receivers de-duplicate by sid and
// sequence. Far more than a recording sends in checkpointEvery.
const seqJump = 1000

// resourceRecord is an acquired resource.
type resourceRecord struct {
	Cname   string    `json:"cname"`
	UID     string    `json:"uid"`
	Created time.Time `json:"created"`
	Used    bool      `json:"used"`
}

// filterRecord is a uidFilter as saved.
type filterRecord struct {
	Everyone bool     `json:"everyone,omitempty"` // no allow list
	Allow    []uint32 `json:"allow,omitempty"`
	Deny     []uint32 `json:"deny,omitempty"`
	None     bool     `json:"none,omitempty"`
}

func recordFilter(f uidFilter) filterRecord {
	fr := filterRecord{Everyone: f.allow == nil, None: f.none}
	for uid := range f.allow {
		fr.Allow = append(fr.Allow, uid)
	}
	for uid := range f.deny {
		fr.Deny = append(fr.Deny, uid)
	}
	slices.Sort(fr.Allow)
	slices.Sort(fr.Deny)
	return fr
}

func (fr filterRecord) filter() uidFilter {
	f := uidFilter{none: fr.None}
	if !fr.Everyone {
		f.allow = map[uint32]bool{}
		for _, uid := range fr.Allow {
			f.allow[uid] = true
		}
	}
	if len(fr.Deny) > 0 {
		f.deny = map[uint32]bool{}
		for _, uid := range fr.Deny {
			f.deny[uid] = true
		}
	}
	return f
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
}

// WithState keeps resources and running recordings in b, so that they
// survive a restart (Load and Start bring them back).
func WithState(b state.Backend) Option {
	return func(s *Service) {
		s.resTab = state.NewTable[resourceRecord](b, bucketResources)
		s.sesTab = state.NewTable[sessionRecord](b, bucketSessions)
		s.durable = true
	}
}

// stateError is the answer to a request whose change could not be made
// durable: refused, so that nothing is acknowledged that a restart would
// forget.
func (s *Service) stateError(err error) *apiError {
	if s.m != nil {
		s.m.StateErrors.WithLabelValues("cloudrec").Inc()
	}
	s.log.Error("state not saved", "error", err)
	return &apiError{status: http.StatusServiceUnavailable, code: 1, reason: "the server cannot save its state (ARS_STATE_DIR): " + err.Error()}
}

func (s *Service) saveResource(r *resource) error {
	if !s.durable {
		return nil
	}
	return s.resTab.Put(r.id, resourceRecord{Cname: r.cname, UID: r.uid, Created: r.created, Used: r.used})
}

func (s *Service) forgetResource(id string) {
	if !s.durable {
		return
	}
	if err := s.resTab.Delete(id); err != nil {
		if s.m != nil {
			s.m.StateErrors.WithLabelValues("cloudrec").Inc()
		}
		s.log.Warn("resource not forgotten in the state store", "error", err)
	}
}

// record is what the store keeps of r now.
func (r *recorder) record() sessionRecord {
	r.mu.Lock()
	rec := sessionRecord{RID: r.rid, SID: r.sid, Cname: r.cname, UID: r.uidStr, Mode: r.mode, Request: r.request,
		Started: r.started, Audio: recordFilter(r.savedSubs.audio), Video: recordFilter(r.savedSubs.video),
		Layout: r.savedLayout, Failovers: r.failovers, Files: append([]fileInfo{}, r.files...), Total: r.total,
		Uploaded: r.uploaded, Backuped: r.backuped, Stopping: r.stopping, Saved: r.svc.now()}
	r.mu.Unlock()
	r.evMu.Lock()
	rec.Seq = r.seq
	r.evMu.Unlock()
	return rec
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
