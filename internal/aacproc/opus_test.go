package aacproc

import "testing"

func TestOpusSamples(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want int
	}{
		{nil, 0},
		{[]byte{0xfc}, 960},             // CELT FB 20 ms, one frame
		{[]byte{0xf8, 0xff, 0xfe}, 960}, // the 20 ms silence packet browsers send
		{[]byte{0x78}, 960},             // hybrid FB 20 ms
		{[]byte{0x08}, 960},             // SILK NB 20 ms
		{[]byte{0x18}, 2880},            // SILK NB 60 ms
		{[]byte{0xe1}, 240},             // CELT 2.5 ms, two frames
		{[]byte{0xfb, 0x03}, 2880},      // CELT 20 ms x3
		{[]byte{0xfb, 0x07}, 0},         // 140 ms: too long
		{[]byte{0xfb}, 0},               // code 3 without a count
		{[]byte{0xfb, 0x00}, 0},         // zero frames
	} {
		if got := opusSamples(tc.p); got != tc.want {
			t.Errorf("% x: %d samples, want %d", tc.p, got, tc.want)
		}
	}
}
