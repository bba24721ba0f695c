package rtpreorder

import (
	"testing"
	"time"
)

func BenchmarkPushReordered(b *testing.B) {
	rb := New(100*time.Millisecond, 256)
	payload := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for i := range b.N {
		s := int64(i) ^ 1
		if _, err := rb.Push(1, s, s, time.Duration(i)*time.Millisecond, false, payload, discard{}); err != nil {
			b.Fatal(err)
		}
	}
}
