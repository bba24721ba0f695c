package mixfeed

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

// Target consumes a composite's sources and units; *mixrun.Composite
// implements it. Video and Audio copy their data and never block. A video
// unit's VideoMeta says whether it is a keyframe, its codec (a source's
// codec can change when its sender starts a new stream) and how to turn
// the picture upright.
type Target interface {
	Join(mixproto.Source)
	Leave(id uint32)
	Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte)
	Audio(id uint32, pts int64, pkt []byte)
}

// keyframeInterval bounds how often one participant is asked for a
// keyframe: a PLI storm helps nobody.
const keyframeInterval = time.Second

// LiveOption configures a Live.
type LiveOption func(*Live)

// WithFilter chooses which participants (and packets) go into the
// composite: a cloud recording's subscriptions. It is called at join with
// storage.RecordRTP and then for every packet with its kind, on the
// packet path, so it must be quick. Call Refresh after it changes its
// mind (an update of the subscriptions).
func WithFilter(fn func(p *session.Participant, kind storage.RecordKind) bool) LiveOption {
	return func(l *Live) { l.filter = fn }
}

// WithOnMembership is called (off the packet path's locks) after a source
// joined or left the composite: the caller recomputes the layout from
// Present.
func WithOnMembership(fn func()) LiveOption {
	return func(l *Live) { l.onMembership = fn }
}

// WithOnKeyframeNeeded replaces how a keyframe is asked for (by default
// the participant's RequestKeyframe, on its own goroutine). It is called
// on the packet path, at most once a second per participant.
func WithOnKeyframeNeeded(fn func(p *session.Participant)) LiveOption {
	return func(l *Live) { l.onKeyframe = fn }
}

// WithLogger sets the logger.
func WithLogger(log *slog.Logger) LiveOption {
	return func(l *Live) { l.log = log }
}

// Member is one source of a live composite, in join order.
type Member struct {
	UID    string
	Source uint32
	Video  bool
	Audio  bool
}

// Live feeds a composite from a channel's packets: a session
// MembershipSink. Each participant's packets are serialised by its own
// short lock; looking the participant up takes none.
type Live struct {
	t            Target
	origin       time.Time
	filter       func(*session.Participant, storage.RecordKind) bool
	onMembership func()
	onKeyframe   func(*session.Participant)
	log          *slog.Logger

	// feeds maps participants to their state, copied on write (joins and
	// leaves are rare, packets are not).
	feeds atomic.Pointer[map[*session.Participant]*liveFeed]

	mu     sync.Mutex // serialises joins, leaves and the map's copies
	nextID uint32
	order  []*liveFeed // joined, in join order
	closed bool
}

// liveFeed is one participant in a live composite.
type liveFeed struct {
	l      *Live
	p      *session.Participant
	mu     sync.Mutex
	f      *feed
	src    mixproto.Source
	joined bool // Target.Join was called and Leave not yet
	gone   bool // the participant left: never joins again
	nextKF time.Time
	now    time.Time
}

// NewLive returns a Live feeding t. origin is the composite's PTS 0
// (time.Now() at the composite's start, with its monotonic reading).
func NewLive(t Target, origin time.Time, opts ...LiveOption) *Live {
	l := &Live{t: t, origin: origin, log: slog.Default()}
	for _, o := range opts {
		o(l)
	}
	l.log = l.log.With("component", "mixfeed")
	if l.onKeyframe == nil {
		l.onKeyframe = func(p *session.Participant) { go p.RequestKeyframe() }
	}
	m := map[*session.Participant]*liveFeed{}
	l.feeds.Store(&m)
	return l
}

// Joined implements session.MembershipSink.
func (l *Live) Joined(p *session.Participant) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if (*l.feeds.Load())[p] != nil {
		l.mu.Unlock()
		return
	}
	lf := &liveFeed{l: l, p: p}
	l.storeLocked(p, lf)
	l.mu.Unlock()
	if l.filter == nil || l.filter(p, storage.RecordRTP) {
		lf.mu.Lock()
		joined := lf.join()
		lf.mu.Unlock()
		if joined {
			l.membershipChanged()
		}
	}
}

func (l *Live) storeLocked(p *session.Participant, lf *liveFeed) {
	cur := *l.feeds.Load()
	next := make(map[*session.Participant]*liveFeed, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	if lf == nil {
		delete(next, p)
	} else {
		next[p] = lf
	}
	l.feeds.Store(&next)
}

// join makes the participant a source; lf.mu is held.
func (lf *liveFeed) join() bool {
	if lf.joined || lf.gone {
		return false
	}
	l := lf.l
	streams := lf.p.Streams()
	src := mixproto.Source{UID: strconv.FormatUint(uint64(lf.p.UID()), 10)}
	for _, s := range streams {
		switch kindOf(s) {
		case kindVideo:
			src.Video = true
		case kindAudio:
			src.Audio = true
		}
	}
	if lf.p.Source() == "webrtc" {
		// WebRTC tracks are declared as they come, after the join.
		src.Video, src.Audio = true, true
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.nextID++
	src.ID = l.nextID
	// Set under l.mu with the order it joins: Present reads it there.
	lf.src = src
	l.order = append(l.order, lf)
	l.mu.Unlock()
	lf.f = newFeed(lf, liveReorderWindow, streams)
	lf.joined = true
	l.t.Join(src)
	l.log.Debug("source joined", "uid", src.UID, "source", src.ID, "video", src.Video, "audio", src.Audio)
	// A sink can use nothing before a keyframe.
	lf.nextKF = time.Time{}
	lf.keyframeNeeded()
	return true
}

// leave flushes the participant and ends its source; lf.mu is held.
func (lf *liveFeed) leave() bool {
	if !lf.joined {
		return false
	}
	lf.f.flush()
	lf.joined = false
	lf.l.t.Leave(lf.src.ID)
	l := lf.l
	l.mu.Lock()
	for i, x := range l.order {
		if x == lf {
			l.order = append(l.order[:i:i], l.order[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	l.log.Debug("source left", "uid", lf.src.UID, "source", lf.src.ID, "dropped", lf.f.dropped)
	return true
}

// Left implements session.MembershipSink.
func (l *Live) Left(p *session.Participant) {
	l.mu.Lock()
	lf := (*l.feeds.Load())[p]
	if lf != nil {
		l.storeLocked(p, nil)
	}
	l.mu.Unlock()
	if lf == nil {
		return
	}
	lf.mu.Lock()
	lf.gone = true
	left := lf.leave()
	lf.mu.Unlock()
	if left {
		l.membershipChanged()
	}
}

// Packet implements session.Sink. It runs on the packet path.
func (l *Live) Packet(p *session.Participant, kind storage.RecordKind, now time.Time, pkt []byte) {
	lf := (*l.feeds.Load())[p]
	if lf == nil {
		return
	}
	if l.filter != nil && !l.filter(p, kind) {
		return
	}
	lf.mu.Lock()
	if !lf.joined {
		if lf.gone || !lf.join() {
			lf.mu.Unlock()
			return
		}
		lf.mu.Unlock()
		l.membershipChanged()
		lf.mu.Lock()
		if !lf.joined {
			lf.mu.Unlock()
			return
		}
	}
	lf.now = now
	at := now.Sub(l.origin)
	switch kind {
	case storage.RecordRTP:
		if !lf.f.rtp(at, pkt) && lf.f.isNewSSRC(pkt) {
			// A stream declared after the join (a WebRTC track).
			lf.f.declareAll(p.Streams())
			lf.f.rtp(at, pkt)
		}
	case storage.RecordRTCP:
		lf.f.rtcp(pkt)
	}
	lf.mu.Unlock()
}

// Refresh applies the filter again to every participant: those it now
// refuses leave the composite, those it now takes join.
func (l *Live) Refresh() {
	if l.filter == nil {
		return
	}
	changed := false
	for p, lf := range *l.feeds.Load() {
		want := l.filter(p, storage.RecordRTP)
		lf.mu.Lock()
		switch {
		case want && !lf.joined:
			changed = lf.join() || changed
		case !want && lf.joined:
			changed = lf.leave() || changed
		}
		lf.mu.Unlock()
	}
	if changed {
		l.membershipChanged()
	}
}

// Present lists the sources in the composite, in join order.
func (l *Live) Present() []Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Member, 0, len(l.order))
	for _, lf := range l.order {
		out = append(out, Member{UID: lf.src.UID, Source: lf.src.ID, Video: lf.src.Video, Audio: lf.src.Audio})
	}
	return out
}

// Close ends every source (flushing what is buffered); later joins and
// packets are ignored. Detach the sink from the session first.
func (l *Live) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	feeds := *l.feeds.Load()
	l.mu.Unlock()
	for _, lf := range feeds {
		lf.mu.Lock()
		lf.gone = true
		lf.leave()
		lf.mu.Unlock()
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func (l *Live) membershipChanged() {
	if l.onMembership != nil {
		l.onMembership()
	}
}

// The feed's emitter: lf.mu is held.

func (lf *liveFeed) video(pts int64, v mixproto.VideoMeta, data []byte) {
	lf.l.t.Video(lf.src.ID, pts, v, data)
}

func (lf *liveFeed) audio(pts int64, data []byte) {
	lf.l.t.Audio(lf.src.ID, pts, data)
}

func (lf *liveFeed) keyframeNeeded() {
	now := lf.now
	if now.IsZero() {
		now = time.Now()
	}
	if now.Before(lf.nextKF) {
		return
	}
	lf.nextKF = now.Add(keyframeInterval)
	lf.l.onKeyframe(lf.p)
}

// RequestKeyframes asks every participant in the composite for a
// keyframe (after a mixer restart: the new mixer can use nothing before
// one).
func (l *Live) RequestKeyframes() {
	l.mu.Lock()
	order := append([]*liveFeed(nil), l.order...)
	l.mu.Unlock()
	for _, lf := range order {
		l.onKeyframe(lf.p)
	}
}
