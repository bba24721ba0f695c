package transcode

import "time"

// maxClockJump is how far a stream's RTP clock may disagree with arrival
// times before the timeline treats it as a discontinuity (an encoder
// restart, a sender bug) and re-anchors on arrival time. LiveKit uses the
// same 5 s bound.
const maxClockJump = 5 * time.Second

// timeline maps the extended RTP timestamps of the SSRCs that feed one
// track onto the track's own time axis (ticks of the clock rate). Within
// a segment, track time follows RTP time exactly, so gaps keep their
// length; a new SSRC or a clock jump starts a new segment placed by
// arrival time.
type timeline struct {
	clock   int64
	started bool
	ssrc    uint32
	refExt  int64 // extended timestamp at the segment start
	refTime int64 // track time at the segment start
	last    int64 // track time of the last placed sample
	lastAt  time.Duration
	lastExt int64

	// The first segment fixes where the track starts on the capture's
	// clock: its SSRC, the timestamp of its first sample and the least
	// network delay seen (arrival minus media time since that sample).
	firstSSRC  uint32
	firstExt   int64
	firstStart time.Duration
	inFirst    bool
	segments   int
}

func newTimeline(clock uint32) timeline {
	return timeline{clock: int64(clock)}
}

// Conversions go through float64 so that absurd values in a damaged
// capture saturate instead of overflowing.
func (tl *timeline) ticks(d time.Duration) int64 {
	return int64(d.Seconds() * float64(tl.clock))
}

func (tl *timeline) dur(ticks int64) time.Duration {
	return time.Duration(float64(ticks) / float64(tl.clock) * float64(time.Second))
}

// place returns the track time of a sample with extended timestamp ext
// from ssrc that arrived at at. ok is false when the sample does not come
// after the previous one and must be dropped.
func (tl *timeline) place(ssrc uint32, ext int64, at time.Duration) (t int64, ok bool) {
	if !tl.started {
		tl.started, tl.inFirst, tl.segments = true, true, 1
		tl.ssrc, tl.refExt, tl.refTime = ssrc, ext, 0
		tl.firstSSRC, tl.firstExt, tl.firstStart = ssrc, ext, at
		tl.last, tl.lastAt, tl.lastExt = 0, at, ext
		return 0, true
	}
	if ssrc != tl.ssrc || tl.jumped(ext, at) {
		step := tl.ticks(at - tl.lastAt)
		if step < 1 {
			step = 1
		}
		tl.ssrc, tl.refExt, tl.refTime = ssrc, ext, tl.last+step
		tl.inFirst = false
		tl.segments++
	}
	t = ext - tl.refExt + tl.refTime
	if t <= tl.last {
		return 0, false
	}
	if tl.inFirst {
		if s := at - tl.dur(ext-tl.firstExt); s < tl.firstStart {
			tl.firstStart = s
		}
	}
	tl.last, tl.lastAt, tl.lastExt = t, at, ext
	return t, true
}

// jumped reports a discontinuity: the RTP clock went back, or ran ahead
// of arrival time, by more than maxClockJump. Arrival running ahead of the
// RTP clock is not one: a stalled network delivers late bursts, and the
// RTP clock is the better witness of when media was captured.
// peek returns where a sample would be placed without placing it, for
// samples that are dropped but whose time still counts (the end of a
// track that lost its last pictures). ok is false if that is unknown.
func (tl *timeline) peek(ssrc uint32, ext int64, at time.Duration) (int64, bool) {
	if !tl.started || ssrc != tl.ssrc || tl.jumped(ext, at) {
		return 0, false
	}
	t := ext - tl.refExt + tl.refTime
	return t, t > tl.last
}

func (tl *timeline) jumped(ext int64, at time.Duration) bool {
	media := tl.dur(ext - tl.lastExt)
	return media < -maxClockJump || media-(at-tl.lastAt) > maxClockJump
}
