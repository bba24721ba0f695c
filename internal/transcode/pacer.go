package transcode

import "slices"

const (
	// pacerWindow is how many recent frame intervals set the cadence.
	pacerWindow = 15
	// pacerWarmup is how many intervals are seen before pacing starts.
	pacerWarmup = 6
)

// pacer keeps pictures at least one nominal frame interval apart.
//
// Browsers stamp each picture with its capture time, which jitters: a
// picture stamped late is followed closely by an on-time one (Chromium's
// fake camera at 20 fps gives 88 ms then 12 ms). The file is correct as
// it is, but players that time output by the frame rate they guess
// (ffmpeg's default output timing among them) put both pictures on one
// tick and fail. The pacer moves such a picture later, to one nominal
// interval after its predecessor.
//
// The nominal interval is the lower quartile of recent intervals, so a
// stream whose intervals exceed it catches up with the sender's own timing
// and a regular stream is left exactly as sent; on a jittery stream some
// lag can persist. Lag is bounded by two intervals: past that (the
// sender's frame rate rose) pictures close in at half an interval until
// they are on time again.
type pacer struct {
	deltas  [pacerWindow]int64
	sorted  []int64
	n, next int
	prevRaw int64
	lastOut int64
	started bool
}

// place returns the track time for a picture the timeline placed at t.
func (p *pacer) place(t int64) int64 {
	if !p.started {
		p.started, p.prevRaw, p.lastOut = true, t, t
		return t
	}
	if d := t - p.prevRaw; d > 0 {
		p.deltas[p.next] = d
		p.next = (p.next + 1) % pacerWindow
		if p.n < pacerWindow {
			p.n++
		}
	}
	p.prevRaw = t
	out := t
	if p.n >= pacerWarmup {
		nominal := p.nominal()
		if floor := p.lastOut + nominal; out < floor {
			out = floor
			if out-t > 2*nominal {
				out = p.lastOut + nominal/2
			}
		}
	}
	if out <= p.lastOut {
		out = p.lastOut + 1
	}
	p.lastOut = out
	return out
}

// nominal is the lower quartile of the recent intervals.
func (p *pacer) nominal() int64 {
	p.sorted = append(p.sorted[:0], p.deltas[:p.n]...)
	slices.Sort(p.sorted)
	return p.sorted[p.n/4]
}
