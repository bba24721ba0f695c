package h264

import "testing"

func TestAccessUnit(t *testing.T) {
	var a AccessUnit
	sps := []byte{0x67, 0x42, 0xc0, 0x1e}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84} // first_mb_in_slice 0 (ue '1')
	aud := []byte{0x09, 0xf0}
	for _, n := range [][]byte{aud, sps, pps, idr} {
		a.Add(n)
	}
	if !a.HasSPS || !a.HasPPS || !a.HasSlice || !a.Keyframe || a.Damaged {
		t.Fatalf("flags %+v", a)
	}
	if want := 3*4 + len(sps) + len(pps) + len(idr); len(a.Buf) != want {
		t.Fatalf("buffer %d bytes, want %d (the delimiter left out)", len(a.Buf), want)
	}
	a.Reset()
	if a.HasSlice || len(a.Buf) != 0 {
		t.Fatalf("after reset %+v", a)
	}
	// A picture whose first slice starts past macroblock 0 lost its head.
	a.Add([]byte{0x41, 0x40}) // non-IDR slice, first_mb_in_slice 1 (ue '010')
	if !a.Damaged || a.Keyframe {
		t.Fatalf("tail-only picture %+v", a)
	}
}
