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
