package session

import (
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Sink receives every packet of a channel's participants as it arrives,
// whether or not the channel records: live outputs (HLS for the cloud
// recording API, say) hang here. Packet runs on the packet path: it must
// be quick, must not block and must not keep pkt after it returns.
type Sink interface {
	Packet(p *Participant, kind storage.RecordKind, now time.Time, pkt []byte)
}

// MembershipSink is a Sink that also wants to know who joins and leaves.
type MembershipSink interface {
	Sink
	Joined(p *Participant)
	Left(p *Participant)
}

// AddSink attaches s to a channel (creating it if needed) and tells a
// MembershipSink about the participants already there. The returned
// function detaches it.
func (m *Manager) AddSink(channelName string, s Sink) (remove func(), err error) {
	if err := storage.ValidateChannelName(channelName); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	ch, err := m.channelLocked(channelName)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	var next []Sink
	if cur := ch.sinks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	ch.sinks.Store(&next)
	present := make([]*Participant, 0, len(ch.participants))
	for _, p := range ch.participants {
		present = append(present, p)
	}
	m.mu.Unlock()
	if ms, ok := s.(MembershipSink); ok {
		for _, p := range present {
			ms.Joined(p)
		}
	}
	// Like a recording start: a sink can use nothing before a keyframe.
	for _, p := range present {
		p.requestKeyframe()
	}
	return func() { m.removeSink(ch, s) }, nil
}

func (m *Manager) removeSink(ch *channel, s Sink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := ch.sinks.Load()
	if cur == nil {
		return
	}
	next := make([]Sink, 0, len(*cur))
	for _, x := range *cur {
		if x != s {
			next = append(next, x)
		}
	}
	if len(next) == 0 {
		ch.sinks.Store(nil)
	} else {
		ch.sinks.Store(&next)
	}
	m.dropChannelLocked(ch)
}

// membershipSinks returns the channel's sinks that follow membership.
func (ch *channel) membershipSinks() []MembershipSink {
	cur := ch.sinks.Load()
	if cur == nil {
		return nil
	}
	var out []MembershipSink
	for _, s := range *cur {
		if ms, ok := s.(MembershipSink); ok {
			out = append(out, ms)
		}
	}
	return out
}
