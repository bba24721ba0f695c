package mixbench

import (
	"bytes"
	"testing"
)

// FuzzSplitAnnexB: any bytes split without panicking, into units that
// are in order, do not overlap and each hold a slice.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a})
	f.Add([]byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x80, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		end := 0
		for _, u := range SplitAnnexB(b) {
			i := bytes.Index(b[end:], u.Data)
			if len(u.Data) == 0 || i < 0 {
				t.Fatalf("unit %x not after offset %d", u.Data, end)
			}
			end += i + len(u.Data)
		}
	})
}

// FuzzOggPackets: any bytes parse or fail without panicking.
func FuzzOggPackets(f *testing.F) {
	page := []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x03\x01abcd")
	f.Add(page)
	f.Add(append(append([]byte{}, page...), page...))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := OggPackets(b)
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
