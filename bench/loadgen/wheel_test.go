package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWheelFindsEveryStreamOnTime files streams due up to four rings
// ahead and takes rounds at uneven intervals: each stream must be handed
// over in the first round whose clock has reached its due time.
func TestWheelFindsEveryStreamOnTime(t *testing.T) {
	for _, step := range []time.Duration{300 * time.Microsecond, time.Millisecond, 7 * time.Millisecond, 400 * time.Millisecond} {
		rng := rand.New(rand.NewPCG(1, uint64(step)))
		horizon := 4 * wheelSlots * wheelTick
		w := &wheel{}
		streams := make([]*stream, 500)
		want := map[*stream]time.Duration{}
		for i := range streams {
			s := &stream{due: time.Duration(rng.Int64N(int64(horizon)))}
			streams[i] = s
			w.file(s, 0)
		}
		got := map[*stream]time.Duration{}
		var now time.Duration
		for now <= horizon+step {
			// The round that first reaches each due time.
			for _, s := range streams {
				if _, ok := want[s]; !ok && s.due <= now {
					want[s] = now
				}
			}
			base := tickOf(now)
			err := w.take(now, func(s *stream) error {
				if s.due <= now {
					if _, dup := got[s]; dup {
						t.Fatalf("stream due %v handed over twice", s.due)
					}
					got[s] = now
					return nil
				}
				w.file(s, base)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			now += time.Duration(rng.Int64N(int64(2 * step)))
		}
		if w.n != 0 || len(got) != len(streams) {
			t.Fatalf("step %v: %d of %d streams handed over, %d left filed", step, len(got), len(streams), w.n)
		}
		for s, at := range got {
			if at != want[s] {
				t.Fatalf("step %v: stream due %v handed over at %v, want %v", step, s.due, at, want[s])
			}
		}
	}
}
