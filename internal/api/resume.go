package api

import (
	"errors"
	"net/netip"
	"time"

	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
)

// joinsBucket holds one joinRecord per plain-RTP participant; pinsBucket
// the host each unbound participant's streams were pinned to by its first
// packet, kept apart because it is learnt on the packet path, after the
// join was answered.
const (
	joinsBucket = "api.rtpjoins"
	pinsBucket  = "api.rtppins"
)

// pinRecord is the host a join's streams are pinned to.
type pinRecord struct {
	IP string `json:"ip"`
}

// joinRecord is what a restart needs to bring a plain-RTP join back on
// its port: the sender keeps sending to the port it was told and knows
// nothing of the restart.
type joinRecord struct {
	ID      string               `json:"id"`
	Channel string               `json:"channel"`
	UID     uint32               `json:"uid"`
	Since   time.Time            `json:"since"`
	Streams []storage.StreamInfo `json:"streams"`
	Client  string               `json:"client,omitempty"`
	Bound   string               `json:"bound,omitempty"`
	Port    int                  `json:"port"`
	// Key is checked again at resume: a join whose key has expired
	// since is not brought back.
	Key string `json:"key"`
}

// WithState keeps every plain-RTP join in b before it is answered, for
// ResumeJoins after a restart (nil: joins end with the daemon).
func WithState(b state.Backend) Option {
	return func(s *Server) {
		if b != nil {
			t := state.NewTable[joinRecord](b, joinsBucket)
			s.joins = &t
			pt := state.NewTable[pinRecord](b, pinsBucket)
			s.pins = &pt
			x := state.NewTable[mixRecord](b, mixesBucket)
			s.mixRecs = &x
		}
	}
}

// persistJoin stores p's join and forgets it when p leaves for any reason
// but the daemon's shutdown.
func (s *Server) persistJoin(p *session.Participant, rec joinRecord) error {
	if s.joins == nil {
		return nil
	}
	if err := s.joins.Put(rec.ID, rec); err != nil {
		s.metrics.StateErrors.WithLabelValues("api").Inc()
		return err
	}
	s.forgetOnLeave(p)
	return nil
}

func (s *Server) forgetOnLeave(p *session.Participant) {
	joins := s.joins
	p.OnLeave(func() {
		if p.LeftReason() == session.StopShutdown {
			return
		}
		if err := joins.Delete(p.ID()); err != nil {
			s.metrics.StateErrors.WithLabelValues("api").Inc()
			s.log.Error("state: could not forget a join", "id", p.ID(), "err", err)
		}
		_ = s.pins.Delete(p.ID())
	})
}

// pinOption is the attach option that keeps the host p's streams get
// pinned to (nil without a store).
func (s *Server) pinOption(p *session.Participant) []rtpingest.AttachOption {
	if s.pins == nil {
		return nil
	}
	return []rtpingest.AttachOption{rtpingest.OnHostPinned(func(ip netip.Addr) {
		// On the packet path, once per participant: the write goes
		// elsewhere.
		go s.savePin(p, ip)
	})}
}

// savePin keeps the host p's streams are pinned to. A participant that
// left meanwhile is forgotten again: its leave may have run before the
// write.
func (s *Server) savePin(p *session.Participant, ip netip.Addr) {
	if err := s.pins.Put(p.ID(), pinRecord{IP: ip.String()}); err != nil {
		s.metrics.StateErrors.WithLabelValues("api").Inc()
		s.log.Warn("state: source pin not kept; a restart pins the join anew", "id", p.ID(), "err", err)
		return
	}
	if p.Left() && p.LeftReason() != session.StopShutdown {
		_ = s.pins.Delete(p.ID())
	}
}

// ResumeJoins brings back the plain-RTP joins the store holds whose key
// is still valid, each with its ID and on its port. Call it after the
// session manager started (recordings resumed) and the RTP engine bound
// its sockets, before its read loops start, so that the packets the
// kernel queued during the restart find their routes.
func (s *Server) ResumeJoins() error {
	if s.joins == nil {
		return nil
	}
	recs, bad, err := s.joins.All()
	if err != nil {
		return err
	}
	for id, err := range bad {
		s.log.Error("state: a join record does not decode; forgotten", "id", id, "err", err)
		_ = s.joins.Delete(id)
	}
	pins, _, err := s.pins.All()
	if err != nil {
		return err
	}
	for id := range pins {
		if _, ok := recs[id]; !ok {
			_ = s.pins.Delete(id)
		}
	}
	for id, rec := range recs {
		outcome := "resumed"
		if err := s.resumeJoin(rec, pins[id]); err != nil {
			outcome = "failed"
			if errors.Is(err, errKeyNoLonger) {
				outcome = "expired"
			}
			s.log.Warn("join not resumed", "id", id, "channel", rec.Channel, "uid", rec.UID, "reason", err)
			if err := s.joins.Delete(id); err != nil {
				s.metrics.StateErrors.WithLabelValues("api").Inc()
			}
		} else {
			s.log.Info("join resumed", "channel", rec.Channel, "uid", rec.UID, "rtp_port", rec.Port)
		}
		s.metrics.JoinsResumed.WithLabelValues(outcome).Inc()
	}
	return nil
}

var errKeyNoLonger = errors.New("its key is no longer valid")

func (s *Server) resumeJoin(rec joinRecord, pin pinRecord) error {
	if rec.ID == "" || rec.UID == 0 || len(rec.Streams) == 0 {
		return errors.New("incomplete record")
	}
	if err := s.keys.VerifyMedia(rec.Key, rec.Channel, rec.UID); err != nil {
		return errors.Join(errKeyNoLonger, err)
	}
	opts := []session.JoinOption{session.Restored(rec.ID, rec.Since)}
	if c, err := netip.ParseAddr(rec.Client); err == nil {
		opts = append(opts, session.FromClient(c))
	}
	p, err := s.mgr.Join(rec.Channel, rec.UID, "rtp", rec.Streams, opts...)
	if err != nil {
		return err
	}
	attach := []rtpingest.AttachOption{rtpingest.AtPort(rec.Port)}
	if b, err := netip.ParseAddr(rec.Bound); err == nil {
		attach = append(attach, rtpingest.BindSource(b))
	} else if b, err := netip.ParseAddr(pin.IP); err == nil {
		// The host the first packets came from before the restart: no
		// one else can take the streams over while the sender is away.
		attach = append(attach, rtpingest.BindSource(b))
	} else {
		attach = append(attach, s.pinOption(p)...)
	}
	if _, err := s.rtp.Attach(p, rec.Streams, attach...); err != nil {
		p.Leave()
		return err
	}
	s.forgetOnLeave(p)
	return nil
}

// mixesBucket holds the live composite of each "mixed": true recording.
const mixesBucket = "api.mixes"

// mixRecord is what a restart needs to start a recording's composite
// again: the next composite is a new mixed_HHMMSS.mp4 in the same
// directory (HHMMSS: the restart), as the guide does for a new file.
type mixRecord struct {
	Channel string         `json:"channel"`
	Dir     string         `json:"dir"`
	Options arsmix.Options `json:"options"`
}

func (s *Server) persistMix(rec mixRecord) {
	if s.mixRecs == nil {
		return
	}
	if err := s.mixRecs.Put(rec.Channel, rec); err != nil {
		// The composite runs; only a restart would not bring it back.
		s.metrics.StateErrors.WithLabelValues("api").Inc()
		s.log.Error("state: composite not kept for a restart", "channel", rec.Channel, "err", err)
	}
}

func (s *Server) forgetMix(channel string) {
	if s.mixRecs != nil {
		_ = s.mixRecs.Delete(channel)
	}
}

// ResumeMixes starts again the composites of the recordings the session
// manager resumed. Call it after the manager started.
func (s *Server) ResumeMixes() error {
	if s.mixRecs == nil {
		return nil
	}
	recs, _, err := s.mixRecs.All()
	if err != nil {
		return err
	}
	for ch, rec := range recs {
		st := s.mgr.Status(ch)
		if s.mixes == nil || st.Recording == nil || st.Recording.Directory != rec.Dir {
			s.forgetMix(ch)
			continue
		}
		file, err := s.mixes.Start(ch, rec.Dir, time.Now(), rec.Options)
		if err != nil && !errors.Is(err, arsmix.ErrBusy) {
			s.log.Error("live composite not resumed", "channel", ch, "error", err)
			continue
		}
		s.log.Info("live composite resumed", "channel", ch, "file", file)
	}
	return nil
}
