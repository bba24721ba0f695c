package rtpreorder

import (
	"testing"
	"time"
)

type collect struct {
	seqs     []int64
	gaps     []bool
	payloads []byte
}

func (c *collect) Packet(_ uint32, p *Packet, gap bool) error {
	c.seqs = append(c.seqs, p.Seq)
	c.gaps = append(c.gaps, gap)
	c.payloads = append(c.payloads, p.Payload...)
	return nil
}

func TestBuffer(t *testing.T) {
	ms := time.Millisecond
	type in struct {
		seq int64
		at  time.Duration
	}
	cases := []struct {
		name    string
		slots   int
		in      []in
		want    []int64
		gapsAt  []int64
		dropped int
	}{
		{"in order", 1024, []in{{1, 0}, {2, ms}, {3, 2 * ms}}, []int64{1, 2, 3}, nil, 0},
		{"swapped", 1024, []in{{1, 0}, {3, ms}, {2, 2 * ms}, {4, 3 * ms}}, []int64{1, 2, 3, 4}, nil, 0},
		{"first packet late", 1024, []in{{2, 0}, {3, ms}, {1, 5 * ms}, {4, 6 * ms}}, []int64{1, 2, 3, 4}, nil, 0},
		{"duplicates", 1024, []in{{1, 0}, {2, ms}, {2, 2 * ms}, {3, 3 * ms}, {1, 4 * ms}}, []int64{1, 2, 3}, nil, 2},
		{"loss given up after window", 1024, []in{{1, 0}, {2, 1001 * ms}, {4, 1002 * ms}, {5, 1003 * ms}, {6, 2100 * ms}, {3, 2200 * ms}},
			[]int64{1, 2, 4, 5, 6}, []int64{4}, 1},
		{"far jump", 1024, []in{{1, 0}, {2, ms}, {5000, 2 * ms}, {5001, 3 * ms}}, []int64{1, 2, 5000, 5001}, []int64{5000}, 0},
		// With few slots a jump past the ring flushes what waits and
		// restarts at the new packet.
		{"jump past small ring", 4, []in{{1, 0}, {2, ms}, {4, 2 * ms}, {9, 3 * ms}, {10, 4 * ms}}, []int64{1, 2, 4, 9, 10}, []int64{4, 9}, 0},
		{"slot count rounded up", 3, []in{{1, 0}, {3, ms}, {2, 2 * ms}, {4, 3 * ms}}, []int64{1, 2, 3, 4}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rb := New(time.Second, tc.slots)
			var c collect
			dropped := 0
			for _, p := range tc.in {
				ok, err := rb.Push(1, p.seq, p.seq*10, p.at, false, []byte{byte(p.seq)}, &c)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					dropped++
				}
			}
			if err := rb.Flush(1, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.seqs) != len(tc.want) {
				t.Fatalf("emitted %v, want %v", c.seqs, tc.want)
			}
			var gaps []int64
			for i := range c.seqs {
				if c.seqs[i] != tc.want[i] || c.payloads[i] != byte(tc.want[i]) {
					t.Fatalf("emitted %v (payloads %v), want %v", c.seqs, c.payloads, tc.want)
				}
				if c.gaps[i] {
					gaps = append(gaps, c.seqs[i])
				}
			}
			if len(gaps) != len(tc.gapsAt) {
				t.Fatalf("gaps before %v, want %v", gaps, tc.gapsAt)
			}
			for i := range gaps {
				if gaps[i] != tc.gapsAt[i] {
					t.Errorf("gaps before %v, want %v", gaps, tc.gapsAt)
				}
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", dropped, tc.dropped)
			}
		})
	}
}

// TestBufferReleasesWithoutFlush checks that a missing packet holds the
// stream back only for the window: later arrivals release what waits.
func TestBufferReleasesWithoutFlush(t *testing.T) {
	ms := time.Millisecond
	rb := New(100*ms, 256)
	var c collect
	for _, p := range []struct {
		seq int64
		at  time.Duration
	}{{1, 0}, {2, 150 * ms}, {4, 160 * ms}, {5, 200 * ms}, {6, 261 * ms}} {
		if _, err := rb.Push(1, p.seq, 0, p.at, false, nil, &c); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{1, 2, 4, 5, 6}
	if len(c.seqs) != len(want) {
		t.Fatalf("emitted %v before any flush, want %v", c.seqs, want)
	}
	if !c.gaps[2] {
		t.Errorf("no gap flag before 4: %v", c.gaps)
	}
}

func TestBufferReset(t *testing.T) {
	rb := New(time.Second, 16)
	var c collect
	for _, seq := range []int64{100, 101, 103} {
		if _, err := rb.Push(1, seq, 0, time.Duration(seq)*time.Second, false, nil, &c); err != nil {
			t.Fatal(err)
		}
	}
	rb.Reset()
	// A restart far below the old position is accepted as a new stream.
	for _, seq := range []int64{5, 6} {
		ok, err := rb.Push(1, seq, 0, time.Hour+time.Duration(seq)*time.Second, false, nil, &c)
		if err != nil || !ok {
			t.Fatalf("push %d after reset: %v %v", seq, ok, err)
		}
	}
	if err := rb.Flush(1, &c); err != nil {
		t.Fatal(err)
	}
	if n := len(c.seqs); n < 2 || c.seqs[n-2] != 5 || c.seqs[n-1] != 6 {
		t.Errorf("emitted %v", c.seqs)
	}
	for _, s := range c.seqs {
		if s == 103 {
			t.Errorf("reset kept a buffered packet: %v", c.seqs)
		}
	}
}

type discard struct{}

func (discard) Packet(uint32, *Packet, bool) error { return nil }

// TestBufferAllocFree checks that slots reuse their payload memory once
// the ring has been round once.
func TestBufferAllocFree(t *testing.T) {
	rb := New(100*time.Millisecond, 256)
	payload := make([]byte, 1200)
	var seq int64
	push := func() {
		// Swap neighbours so that packets really wait in the ring.
		s := seq ^ 1
		if _, err := rb.Push(1, s, s, time.Duration(seq)*time.Millisecond, false, payload, discard{}); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	for range 1024 {
		push()
	}
	if n := testing.AllocsPerRun(1000, push); n != 0 {
		t.Errorf("%v allocations per packet in steady state", n)
	}
}
