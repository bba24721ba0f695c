package vcodec

import (
	"encoding/binary"
	"testing"
)

func TestFromName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Codec
	}{
		{"H264", H264}, {"h264", H264}, {"VP8", VP8}, {"vp9", VP9}, {"AV1", AV1}, {"AV1X", AV1},
		{"opus", Unknown}, {"", Unknown}, {"H265", Unknown},
	} {
		if got := FromName(tc.name); got != tc.want {
			t.Errorf("FromName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, c := range All() {
		if FromName(c.Name()) != c || c.MimeType() != "video/"+c.Name() {
			t.Errorf("%v does not round-trip", c)
		}
	}
}

func TestIsKeyframeStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec
		pl    []byte
		want  bool
	}{
		{"h264 idr", H264, []byte{0x65, 0x88}, true},
		{"h264 fu-a idr start", H264, []byte{0x7c, 0x85, 0}, true},
		{"h264 fu-a idr middle", H264, []byte{0x7c, 0x05, 0}, false},
		{"h264 stap-a sps", H264, []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true},
		{"h264 p slice", H264, []byte{0x41, 0x9a}, false},
		// VP8: S=1 PID=0, frame tag P bit 0 = key frame.
		{"vp8 key", VP8, []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a}, true},
		{"vp8 inter", VP8, []byte{0x10, 0x51}, false},
		{"vp8 key not partition start", VP8, []byte{0x00, 0x50}, false},
		{"vp8 key partition 1", VP8, []byte{0x11, 0x50}, false},
		// X, I with a 15-bit picture ID, L, T: 1+1+2+1+1 = 6 bytes of descriptor.
		{"vp8 key extended", VP8, []byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x50}, true},
		{"vp8 extended inter", VP8, []byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x51}, false},
		{"vp8 truncated", VP8, []byte{0x90, 0x80}, false},
		// VP9: B set, P clear, and a profile 0 header (10 0 0 0 0 ...)
		// saying key frame; 0x84 is an inter frame's (frame_type 1).
		{"vp9 key", VP9, []byte{0x08 | 0x04, 0x80}, true},
		{"vp9 inter", VP9, []byte{0x08 | 0x40, 0x84}, false},
		{"vp9 inter without P (ffmpeg's packetizer)", VP9, []byte{0x08, 0x84}, false},
		{"vp9 show existing frame", VP9, []byte{0x08, 0x88}, false},
		{"vp9 profile 3 key", VP9, []byte{0x08, 0xb0}, true},
		{"vp9 profile 3 inter", VP9, []byte{0x08, 0xb2}, false},
		{"vp9 key middle packet", VP9, []byte{0x00, 0x80}, false},
		// I (7-bit picture ID) and L in flexible mode: SID 0 is the base
		// layer, SID 1 is not.
		{"vp9 key base layer", VP9, []byte{0xb8, 0x05, 0x00, 0x80}, true},
		{"vp9 key upper layer", VP9, []byte{0xb8, 0x05, 0x02, 0x80}, false},
		// Non-flexible mode adds TL0PICIDX.
		{"vp9 key non-flexible", VP9, []byte{0xa8, 0x05, 0x00, 0x07, 0x80}, true},
		{"vp9 scalability structure", VP9, []byte{0x0a, 0x00}, true},
		{"vp9 truncated", VP9, []byte{0xa8}, false},
		// AV1: N bit; or a first element that is a sequence header OBU.
		{"av1 N", AV1, []byte{0x18, 0x0a}, true},
		{"av1 lone sequence header", AV1, []byte{0x10, 0x0a, 0x0b}, true},
		{"av1 sized sequence header", AV1, []byte{0x20, 0x02, 0x0a, 0x0b, 0x01, 0x32}, true},
		{"av1 frame", AV1, []byte{0x10, 0x32}, false},
		{"av1 continued", AV1, []byte{0x90, 0x0a}, false},
		{"av1 runaway leb128", AV1, []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a}, false},
		{"empty", VP8, nil, false},
		{"unknown", Unknown, []byte{0x65}, false},
	} {
		if got := IsKeyframeStart(tc.codec, tc.pl); got != tc.want {
			t.Errorf("%s: IsKeyframeStart = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCVOByte(t *testing.T) {
	for b := 0; b < 16; b++ {
		o := ParseCVO(byte(b))
		if o.Byte() != byte(b) {
			t.Errorf("CVO %#x round-trips to %#x", b, o.Byte())
		}
	}
	if o := ParseCVO(0x01); o.Rotation != 90 || o.Flip || !o.Turned() || !o.SwapsSides() {
		t.Errorf("CVO 1 = %+v", o)
	}
	if o := ParseCVO(0x08); o.Turned() || !o.BackCamera {
		t.Errorf("CVO 8 = %+v", o)
	}
}

// TestMatrix maps the corners of a coded 4x2 picture through each matrix:
// the coded top-left corner must land where the rotation puts it.
func TestMatrix(t *testing.T) {
	const w, h = 4, 2
	apply := func(m [9]int32, p, q int) (int, int) {
		return (int(m[0])*p + int(m[3])*q + int(m[6])) >> 16, (int(m[1])*p + int(m[4])*q + int(m[7])) >> 16
	}
	for _, tc := range []struct {
		o      Orientation
		tl, br [2]int // where coded (0,0) and (w,h) land
	}{
		{Orientation{Rotation: 0}, [2]int{0, 0}, [2]int{w, h}},
		{Orientation{Rotation: 90}, [2]int{h, 0}, [2]int{0, w}},
		{Orientation{Rotation: 180}, [2]int{w, h}, [2]int{0, 0}},
		{Orientation{Rotation: 270}, [2]int{0, w}, [2]int{h, 0}},
		{Orientation{Flip: true}, [2]int{w, 0}, [2]int{0, h}},
		{Orientation{Rotation: 90, Flip: true}, [2]int{0, 0}, [2]int{h, w}},
	} {
		m := tc.o.Matrix(w, h)
		if x, y := apply(m, 0, 0); [2]int{x, y} != tc.tl {
			t.Errorf("%+v: (0,0) -> (%d,%d), want %v", tc.o, x, y, tc.tl)
		}
		if x, y := apply(m, w, h); [2]int{x, y} != tc.br {
			t.Errorf("%+v: (%d,%d) -> (%d,%d), want %v", tc.o, w, h, x, y, tc.br)
		}
		if m[8] != 1<<30 {
			t.Errorf("w = %#x", m[8])
		}
	}
}

func rtpWithExtension(profile uint16, ext []byte) []byte {
	for len(ext)%4 != 0 {
		ext = append(ext, 0)
	}
	p := []byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}
	p = binary.BigEndian.AppendUint16(p, profile)
	p = binary.BigEndian.AppendUint16(p, uint16(len(ext)/4))
	p = append(p, ext...)
	return append(p, 0xaa, 0xbb)
}

func TestHeaderExtension(t *testing.T) {
	// One-byte form: padding, ID 2 (two bytes), ID 3 (CVO, one byte).
	one := rtpWithExtension(0xBEDE, []byte{0x00, 0x21, 0xaa, 0xbb, 0x30, 0x03})
	if o, ok := PacketOrientation(one, 3); !ok || o.Rotation != 270 {
		t.Errorf("one-byte CVO = %+v %v", o, ok)
	}
	if d, ok := HeaderExtension(one, 2); !ok || len(d) != 2 || d[0] != 0xaa {
		t.Errorf("one-byte element 2 = %x %v", d, ok)
	}
	if _, ok := HeaderExtension(one, 4); ok {
		t.Error("found an absent element")
	}
	// Two-byte form.
	two := rtpWithExtension(0x1000, []byte{0x00, 0x07, 0x01, 0x02})
	if o, ok := PacketOrientation(two, 7); !ok || o.Rotation != 180 {
		t.Errorf("two-byte CVO = %+v %v", o, ok)
	}
	// No extension; a truncated one; an element overrunning its block.
	if _, ok := PacketOrientation([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa}, 3); ok {
		t.Error("CVO without an extension")
	}
	if _, ok := PacketOrientation(one[:15], 3); ok {
		t.Error("CVO from a truncated packet")
	}
	bad := rtpWithExtension(0xBEDE, []byte{0x3f, 0x01})
	if _, ok := PacketOrientation(bad, 3); ok {
		t.Error("CVO from an element longer than its block")
	}
}
