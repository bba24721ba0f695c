package vcodec

import "testing"

// FuzzParsers feeds hostile bytes to every parser here: none may panic,
// read outside its input or find an element that is not inside it.
func FuzzParsers(f *testing.F) {
	f.Add([]byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x50}, uint8(3))
	f.Add(rtpWithExtension(0xBEDE, []byte{0x00, 0x21, 0xaa, 0xbb, 0x30, 0x03}), uint8(3))
	f.Add(rtpWithExtension(0x1000, []byte{0x00, 0x07, 0x01, 0x02}), uint8(7))
	f.Add([]byte{0x20, 0x02, 0x0a, 0x0b, 0x01, 0x32}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, id uint8) {
		for _, c := range append(All(), Unknown) {
			_ = IsKeyframeStart(c, b)
		}
		if off, _, ok := VP8PayloadOffset(b); ok && off > len(b) {
			t.Fatalf("VP8 payload offset %d past %d bytes", off, len(b))
		}
		if d, ok := HeaderExtension(b, id); ok {
			if len(d) == 0 || len(d) > len(b) {
				t.Fatalf("element of %d bytes in a %d-byte packet", len(d), len(b))
			}
		}
		_, _ = PacketOrientation(b, id)
	})
}
