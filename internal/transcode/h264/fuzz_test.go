package h264

import (
	"bytes"
	"testing"
)

// FuzzDepacketizer feeds arbitrary payload sequences: the first byte of
// each chunk gives its length, and a length byte of 0 means a sequence gap.
// No NAL unit may come out empty or oversized, and nothing may panic.
func FuzzDepacketizer(f *testing.F) {
	idr := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0x11}, 40)...)
	seed := []byte{}
	for _, p := range fuA(idr, 16) {
		seed = append(seed, byte(len(p)))
		seed = append(seed, p...)
	}
	f.Add(seed)
	s := stap([]byte{0x67, 0x42, 0xc0, 0x1e}, []byte{0x68, 0xce})
	f.Add(append([]byte{byte(len(s))}, s...))
	f.Add([]byte{3, 0x7c, 0x85, 0x01, 0, 3, 0x7c, 0x45, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Depacketizer
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			if n == 0 {
				d.Reset()
				continue
			}
			n = min(n, len(data))
			_ = d.Push(data[:n], func(nal []byte) {
				if len(nal) == 0 || len(nal) > maxNALSize {
					t.Fatalf("emitted NAL of %d bytes", len(nal))
				}
				if nal[0]&0x80 != 0 {
					t.Fatalf("emitted NAL with forbidden bit")
				}
				_, _ = FirstMBInSlice(nal)
			})
			data = data[n:]
		}
	})
}
