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
