package loadgen

import "time"

// wheelTick and wheelSlots make a ring of 256 one-millisecond slots: far
// more than the longest gap between two packets of a stream (a frame
// interval). A stream due further ahead is looked at once per turn of the
// ring and filed again.
const (
	wheelTick  = time.Millisecond
	wheelSlots = 256
)

// wheel files a worker's streams by the tick their next packet is due in,
// so a round finds the due streams in time linear in their number (a heap
// paid a logarithmic sift with a pointer chase per comparison).
type wheel struct {
	slots [wheelSlots][]*stream
	spare []*stream
	next  int64 // the earliest tick that may hold streams
	n     int   // streams filed
}

func tickOf(d time.Duration) int64 { return int64(d / wheelTick) }

// file puts s in the slot of its due tick, never before base.
func (w *wheel) file(s *stream, base int64) {
	t := max(tickOf(s.due), base)
	w.slots[t%wheelSlots] = append(w.slots[t%wheelSlots], s)
	w.n++
}

// take hands every stream filed in a tick up to now's to f and empties
// those slots; f files the stream again if it has more to send. The
// current tick stays the earliest: streams due later in it wait there.
func (w *wheel) take(now time.Duration, f func(*stream) error) error {
	upto := tickOf(now)
	for t := w.next; t <= upto; t++ {
		i := t % wheelSlots
		list := w.slots[i]
		if len(list) == 0 {
			continue
		}
		// f may file into this very slot: it appends to the spare.
		w.slots[i], w.spare = w.spare[:0], nil
		w.n -= len(list)
		for k, s := range list {
			list[k] = nil
			if err := f(s); err != nil {
				return err
			}
		}
		w.spare = list[:0]
	}
	w.next = upto
	return nil
}

// nextDue is the start of the earliest tick holding a stream (at most a
// ring ahead), for the worker's sleep.
func (w *wheel) nextDue() time.Duration {
	for t := w.next; t < w.next+wheelSlots; t++ {
		if len(w.slots[t%wheelSlots]) > 0 {
			return time.Duration(t) * wheelTick
		}
	}
	return time.Duration(w.next+wheelSlots) * wheelTick
}
