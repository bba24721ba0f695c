package transcode

import (
	"math"
	"math/bits"
	"time"
)

// fineGridRate is the grid, in slots per second, of video whose SPS
// declares no frame rate.
const fineGridRate = 120

// maxDeclaredRate bounds the declared frame rates the grid follows. A
// rate derived from sample durations above 210 fps is one ffmpeg does not
// trust (av_guess_frame_rate takes the average rate instead), so a grid
// that fine would not be the rate it times output by. An SPS declaring
// such a rate declares a timestamp unit rather than a frame rate, and the
// fine grid serves it: ffmpeg then prefers the fine grid's rate.
const maxDeclaredRate = 210

// maxGridLag is how far the grid may delay a picture past its own slot.
// Only a stream that comes faster than its SPS declares gets there: its
// pictures cannot have a tick each at the declared rate, and keeping
// sync matters more, so the rest of the track goes on the fine grid.
const maxGridLag = 100 * time.Millisecond

// grid puts every picture on a grid of slots, one picture per slot at
// most, counted from the track's first picture.
//
// Players time output by a frame rate, and two pictures on one output
// tick are an error to them (ffmpeg's CLI reports non-monotonic
// timestamps to its muxer). ffmpeg takes the rate the SPS declares (VUI
// timing info, which x264 writes and Chromium does not) whenever the rate
// it derives from the sample durations is much finer, and otherwise the
// derived one (av_guess_frame_rate). So:
//
//   - With a declared rate, the slots are that rate's frame intervals. A
//     sender that keeps its declared rate, as encoders fed by a camera
//     or a file do, is left exactly as sent; any other picture moves by
//     at most half a frame interval. Every picture then has a tick of its
//     own wherever the track starts in the movie. (On a finer grid that
//     does not divide the frame interval, 1/120 s for 25 fps, some
//     intervals are shorter than a tick, and the track's start offset
//     decides whether two pictures round onto one: the TestDiskFull
//     flake.)
//   - Without one (browsers), the slots are 1/120 s, moving a picture by
//     at most half a slot (4.2 ms), and the derived rate is the grid's
//     or a whole fraction of it: ffmpeg derives it from the greatest
//     common divisor of the durations in its probe window (ignoring the
//     first three), a whole number of slots. Pictures that come faster
//     after the window than in it can still share a tick; the grid cannot
//     prevent that without moving pictures by whole slots.
type grid struct {
	clock    uint64 // track ticks per second
	num, den uint64 // slots per second, num/den
	declared bool   // the slots are the SPS's frame intervals
	slot     uint64 // slot of the last picture
	last     int64  // track time of the last picture
	n        int
}

// newGrid returns the grid for a track with the given clock and the frame
// rate num/den its SPS declares (0/0 if none).
func newGrid(clock int64, num, den uint64) grid {
	g := grid{clock: uint64(max(clock, 1)), num: fineGridRate, den: 1}
	if den > 0 && den <= 1<<30 && num >= den && num <= maxDeclaredRate*den {
		g.num, g.den, g.declared = num, den, true
	}
	return g
}

// place returns the slot time for a picture at track time t; times are
// never negative and always increase.
func (g *grid) place(t int64) int64 {
	t = max(t, 0)
	s := g.slotOf(t)
	if g.n > 0 && s <= g.slot {
		s = g.slot + 1
		if g.declared && g.pos(s)-t > int64(maxGridLag.Seconds()*float64(g.clock)) {
			g.num, g.den, g.declared = fineGridRate, 1, false
			s = g.slotOf(g.last)
			if g.pos(s) <= g.last {
				s++
			}
			s = max(s, g.slotOf(t))
		}
	}
	q := g.pos(s)
	if g.n > 0 && q <= g.last {
		// Only saturated (absurd) times get here.
		q = g.last + 1
	}
	g.slot, g.last = s, q
	g.n++
	return q
}

// slotOf is the slot nearest track time t.
func (g *grid) slotOf(t int64) uint64 {
	return mulDivRound(uint64(t), g.num, g.clock*g.den)
}

// pos is the track time of slot s: exact when the frame interval is a
// whole number of clock ticks, rounded to the nearest tick otherwise.
func (g *grid) pos(s uint64) int64 {
	return int64(min(mulDivRound(s, g.clock*g.den, g.num), math.MaxInt64))
}

// mulDivRound returns a*b/c rounded to the nearest integer (halves up),
// in 128-bit arithmetic, saturating at the largest uint64.
func mulDivRound(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	lo, carry := bits.Add64(lo, c/2, 0)
	hi += carry
	if hi >= c {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}
