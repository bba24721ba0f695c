package opus

import "testing"

func TestPacketSamples(t *testing.T) {
	cases := []struct {
		pkt  []byte
		want int
	}{
		{[]byte{0xfc, 0xff, 0xfe}, 960}, // CELT FB 20 ms, stereo
		{[]byte{0x78}, 960},             // Hybrid FB 20 ms (config 15)
		{[]byte{0x01, 0, 0}, 960},       // SILK NB 10 ms, two frames
		{[]byte{0x18, 0}, 2880},         // SILK NB 60 ms
		{[]byte{0x83, 0x03}, 360},       // CELT NB 2.5 ms x 3
		{[]byte{0x1b, 0x03}, 0},         // 3 x 60 ms > 120 ms
		{[]byte{0x03, 0x00}, 0},         // code 3 with zero frames
		{[]byte{0x03}, 0},               // code 3 without count
		{nil, 0},
	}
	for _, c := range cases {
		if got := PacketSamples(c.pkt); got != c.want {
			t.Errorf("PacketSamples(% x) = %d, want %d", c.pkt, got, c.want)
		}
	}
	for _, ch := range []int{1, 2} {
		if got := PacketSamples(Silence(ch)); got != SilenceSamples {
			t.Errorf("silence for %d channels plays %d samples", ch, got)
		}
	}
}
