package rtpreorder

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzBuffer pushes hostile sequence numbers and arrival times (3 bytes
// a packet: a signed 16-bit sequence step and an arrival step in ms) and
// checks the contract: output strictly ascending, every accepted packet
// emitted exactly once by the final Flush, nothing emitted that was not
// pushed.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{1, 0, 1, 2, 0, 1, 0xff, 0xff, 1, 2, 0, 200})
	f.Add([]byte{0, 0x20, 0, 1, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rb := New(100*time.Millisecond, 16)
		var c collect
		accepted := map[int64]bool{}
		var seq int64
		var at time.Duration
		for len(data) >= 3 {
			seq += int64(int16(binary.BigEndian.Uint16(data)))
			at += time.Duration(data[2]) * time.Millisecond
			data = data[3:]
			ok, err := rb.Push(7, seq, 0, at, false, []byte{byte(seq)}, &c)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				if accepted[seq] {
					t.Fatalf("duplicate %d accepted", seq)
				}
				accepted[seq] = true
			}
		}
		if err := rb.Flush(7, &c); err != nil {
			t.Fatal(err)
		}
		for i, s := range c.seqs {
			if i > 0 && s <= c.seqs[i-1] {
				t.Fatalf("output not ascending: %v", c.seqs)
			}
			if !accepted[s] || c.payloads[i] != byte(s) {
				t.Fatalf("emitted %d which was not accepted", s)
			}
		}
		if len(c.seqs) != len(accepted) {
			t.Fatalf("accepted %d packets, emitted %d", len(accepted), len(c.seqs))
		}
	})
}
