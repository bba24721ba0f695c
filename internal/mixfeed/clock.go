package mixfeed

import (
	"time"

	"github.com/ars-project/ars/internal/transcode"
)

// maxDrift is how far a stream's arrival may run behind where its RTP
// clock puts it, for longer than driftPersist, before the stream is
// re-anchored: sender and receiver clocks drift apart, and a network whose
// delay grew for good would otherwise leave every unit late.
const (
	maxDrift     = 100 * time.Millisecond
	driftPersist = 500 * time.Millisecond
	// maxJump is a timestamp discontinuity (an encoder restart, a sender
	// bug): the stream re-anchors on arrival at once.
	maxJump = time.Second
)

// streamClock places one stream's units. A unit's time is its media time
// (RTP delta since the stream's first unit, or the sender's NTP clock when
// sender reports align the participant's streams) plus the stream's least
// network delay seen: units keep the spacing of their timestamps and the
// jitter of arrival is smoothed away.
type streamClock struct {
	rate int64 // ticks per second

	started bool
	base    int64 // extended timestamp of the first unit

	sr    transcode.SenderReport
	hasSR bool

	srMode    bool
	delay     time.Duration
	hasDelay  bool
	over      bool
	overSince time.Duration

	last    int64
	hasLast bool
	lastExt int64 // extended timestamp of the latest unit placed
}

// setMode moves the stream to sender-report times (or back) keeping its
// delay estimate: the two scales differ by a constant, so the unit last
// placed would keep its time, and the stream does not jump.
func (c *streamClock) setMode(sr bool, ntpBase time.Duration) {
	if sr == c.srMode {
		return
	}
	if c.hasDelay && c.hasLast {
		c.delay += c.media(c.lastExt, c.srMode, ntpBase) - c.media(c.lastExt, sr, ntpBase)
	}
	c.srMode, c.over = sr, false
}

func (c *streamClock) ticksToDur(t int64) time.Duration {
	return time.Duration(float64(t) / float64(c.rate) * float64(time.Second))
}

// media is the unit's media time: on the participant's NTP scale
// (relative to ntpBase) in sender-report mode, else since the stream's
// first unit.
func (c *streamClock) media(ext int64, srMode bool, ntpBase time.Duration) time.Duration {
	if srMode {
		srExt := ext + int64(int32(c.sr.RTP-uint32(ext)))
		return c.sr.NTP - ntpBase + c.ticksToDur(ext-srExt)
	}
	return c.ticksToDur(ext - c.base)
}

// observe updates the least delay with one unit's delay d at arrival at.
func (c *streamClock) observe(d, at time.Duration) {
	switch {
	case !c.hasDelay || d < c.delay:
		c.delay, c.hasDelay, c.over = d, true, false
	case d-c.delay > maxJump:
		c.delay, c.over = d, false
	case d-c.delay > maxDrift:
		if !c.over {
			c.over, c.overSince = true, at
		} else if at-c.overSince >= driftPersist {
			c.delay, c.over = d, false
		}
	default:
		c.over = false
	}
}

// avClock is the participant's clock: its streams (one per kind) and the
// base of its sender-report times.
type avClock struct {
	ntpBase    time.Duration
	hasNTPBase bool
	// floor is the earliest PTS handed on (offline: 0, the composite's
	// start, which sender reports may place a stream's first units before).
	floor    int64
	hasFloor bool
}

// place returns the PTS (ns since the composite's origin) of a unit of
// stream c with extended timestamp ext that arrived at at (since the
// origin). other is the participant's stream of the other kind, or nil.
func (a *avClock) place(c, other *streamClock, ext int64, at time.Duration) int64 {
	if !c.started {
		c.started, c.base = true, ext
	}
	sr := c.hasSR && other != nil && other.hasSR && other.started
	c.setMode(sr, a.ntpBase)
	if sr {
		// Both streams on the sender's clock at once: the other one's
		// delay is compared with this one's below.
		other.setMode(true, a.ntpBase)
	}
	m := c.media(ext, sr, a.ntpBase)
	c.observe(at-m, at)
	off := c.delay
	if sr && other.srMode && other.hasDelay && other.delay < off {
		off = other.delay
	}
	if sr {
		if diff := at - (m + off); diff > transcode.MaxSyncCorrection || diff < -transcode.MaxSyncCorrection {
			// The reports disagree with arrival beyond belief: a
			// confused sender. Arrival alone places the stream.
			c.setMode(false, a.ntpBase)
			c.hasSR = false
			m = c.media(ext, false, 0)
			c.observe(at-m, at)
			off = c.delay
		}
	}
	pts := int64(m + off)
	if a.hasFloor && pts < a.floor {
		pts = a.floor
	}
	if c.hasLast && pts <= c.last {
		// Never backwards: a re-anchor or a switch of scale moved the
		// stream earlier; the unit follows its predecessor.
		pts = c.last + 1
	}
	c.last, c.hasLast, c.lastExt = pts, true, ext
	return pts
}

// report records a sender report for the stream.
func (a *avClock) report(c *streamClock, sr transcode.SenderReport) {
	if !a.hasNTPBase {
		a.ntpBase, a.hasNTPBase = sr.NTP, true
	}
	c.sr, c.hasSR = sr, true
}

// preset returns the clock c as a later pass starts with it: its delay
// estimate and sender report, nothing placed yet.
func (c streamClock) preset() streamClock {
	c.hasLast, c.last, c.over = false, 0, false
	return c
}
