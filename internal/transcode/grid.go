package transcode

// gridRate is the video time grid, in slots per second.
const gridRate = 120

// grid puts every picture on a 1/120 s grid, one picture per slot at most.
//
// Players that have no frame rate in the stream (browsers' encoders write
// no VUI timing) time output by the frame rate they derive from the track,
// and ffmpeg derives it from the greatest common divisor of the first
// sample durations. A jittery capture clock gives pictures closer than one
// nominal interval, and on a coarse derived rate two of them fall on one
// output tick, which the player reports as an error. On the grid every
// duration is a whole number of slots, and the first interval is made a
// prime number of slots, so the common divisor, and with it the derived
// rate, is the grid's own: every picture has a tick of its own. Moving a
// picture by at most half a slot (4.2 ms) is invisible.
type grid struct {
	step int64 // clock ticks per slot
	last int64
	n    int
}

func newGrid(clock int64) grid { return grid{step: clock / gridRate} }

// place returns the slot time for a picture at track time t.
func (g *grid) place(t int64) int64 {
	if g.step <= 0 {
		return t
	}
	q := floorDiv(t+g.step/2, g.step) * g.step
	if g.n > 0 {
		slots := max(1, (q-g.last)/g.step)
		if g.n == 1 {
			slots = nextPrime(slots)
		}
		q = g.last + slots*g.step
	}
	g.last = q
	g.n++
	return q
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// nextPrime is the smallest prime at least n (and at least 2).
func nextPrime(n int64) int64 {
	for p := max(n, 2); ; p++ {
		prime := true
		for d := int64(2); d*d <= p; d++ {
			if p%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return p
		}
	}
}
