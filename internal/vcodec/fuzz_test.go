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
			// The two-byte form allows empty elements.
			if len(d) > len(b) {
				t.Fatalf("element of %d bytes in a %d-byte packet", len(d), len(b))
			}
		}
		_, _ = PacketOrientation(b, id)
	})
}

// FuzzAssembler splits hostile bytes into RTP payloads of one frame and
// assembles them: no panic, no frame above MaxFrameSize, and a key frame
// of VP8 always has its size.
func FuzzAssembler(f *testing.F) {
	f.Add(uint8(0), []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, uint8(4))
	f.Add(uint8(1), []byte{0x88, 0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6}, uint8(3))
	f.Add(uint8(2), []byte{0x68, 0x0c, 0x08, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0xda, 0xf9, 0x10, 0x32, 0x01}, uint8(7))
	f.Fuzz(func(t *testing.T, which uint8, b []byte, cut uint8) {
		c := []Codec{VP8, VP9, AV1}[int(which)%3]
		a := NewAssembler(c)
		for round := 0; round < 2; round++ {
			a.Begin()
			step := int(cut)%16 + 1
			for off := 0; off < len(b); off += step {
				a.Push(b[off:min(off+step, len(b))])
			}
			fr, err := a.End()
			if err != nil {
				continue
			}
			if len(fr.Data) == 0 || len(fr.Data) > MaxFrameSize {
				t.Fatalf("%v frame of %d bytes", c, len(fr.Data))
			}
			if c == VP8 && fr.Key && (fr.Width == 0 && fr.Height == 0) && len(fr.Data) < 10 {
				t.Fatalf("VP8 key frame without a header: %x", fr.Data)
			}
		}
	})
}
