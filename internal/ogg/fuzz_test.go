package ogg

import "testing"

// FuzzPackets: any bytes parse or fail without panicking.
func FuzzPackets(f *testing.F) {
	page := []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x03\x01abcd")
	f.Add(page)
	f.Add(append(append([]byte{}, page...), page...))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := Packets(b)
		if err == nil {
			n := 0
			for _, p := range pkts {
				n += len(p)
			}
			if n > len(b) {
				t.Fatalf("%d packet bytes from %d input bytes", n, len(b))
			}
		}
	})
}
