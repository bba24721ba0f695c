package mp4entry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/vcodec"
)

// TestWithMatrix checks that the patched tkhd is the encoded one with the
// matrix in place, for both tkhd versions, and that mp4ff still parses it.
func TestWithMatrix(t *testing.T) {
	m := vcodec.Orientation{Rotation: 90}.Matrix(240, 320)
	for _, version := range []byte{0, 1} {
		tkhd := mp4.CreateTkhd()
		tkhd.Version, tkhd.TrackID, tkhd.Duration = version, 7, 12345
		tkhd.Width, tkhd.Height = 240<<16, 320<<16
		box, err := WithMatrix(tkhd, m)
		if err != nil {
			t.Fatal(err)
		}
		var plain, turned bytes.Buffer
		if err := tkhd.Encode(&plain); err != nil {
			t.Fatal(err)
		}
		if err := box.Encode(&turned); err != nil {
			t.Fatal(err)
		}
		if box.Type() != "tkhd" || turned.Len() != plain.Len() || box.Size() != uint64(plain.Len()) {
			t.Fatalf("version %d: %s of %d bytes, tkhd is %d", version, box.Type(), turned.Len(), plain.Len())
		}
		off := 8 + 4 + 20 + 16
		if version == 1 {
			off = 8 + 4 + 32 + 16
		}
		for i, v := range m {
			if got := int32(binary.BigEndian.Uint32(turned.Bytes()[off+4*i:])); got != v {
				t.Errorf("version %d: matrix[%d] = %d, want %d", version, i, got, v)
			}
		}
		// Everything but the matrix is the encoded box.
		a, b := plain.Bytes(), turned.Bytes()
		if !bytes.Equal(a[:off], b[:off]) || !bytes.Equal(a[off+36:], b[off+36:]) {
			t.Errorf("version %d: fields outside the matrix changed", version)
		}
		back, err := mp4.DecodeBox(0, bytes.NewReader(b))
		if err != nil {
			t.Fatalf("version %d: mp4ff cannot read it back: %v", version, err)
		}
		if h, ok := back.(*mp4.TkhdBox); !ok || h.TrackID != 7 || h.Width != 240<<16 {
			t.Errorf("version %d: read back %+v", version, back)
		}
	}
}

func TestSampleEntry(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{Codec: vcodec.VP8, Width: 640, Height: 480}, "vp08"},
		{Params{Codec: vcodec.VP9, Width: 1280, Height: 720}, "vp09"},
	} {
		e, err := SampleEntry(tc.p)
		if err != nil || e.Type() != tc.want {
			t.Errorf("%v: %v %v, want %s", tc.p.Codec, e, err, tc.want)
			continue
		}
		vpcc, ok := e.(*mp4.VisualSampleEntryBox).Children[0].(*mp4.VppCBox)
		if !ok || vpcc.Level != vpxLevel(tc.p.Width, tc.p.Height) || vpcc.BitDepth != 8 {
			t.Errorf("%v: vpcC %+v", tc.p.Codec, vpcc)
		}
	}
	if _, err := SampleEntry(Params{Codec: vcodec.AV1, Width: 320, Height: 240}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("AV1 without a sequence header: %v, want ErrNoConfig", err)
	}
	if _, err := SampleEntry(Params{Codec: vcodec.H264, Width: 320, Height: 240}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("H.264: %v, want ErrNoConfig (avcC is built from parameter sets)", err)
	}
}

func TestVPxLevel(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want uint8
	}{
		{256, 144, 10}, {320, 240, 20}, {640, 360, 21}, {640, 480, 30}, {1280, 720, 31},
		{1920, 1080, 40}, {3840, 2160, 50}, {7680, 4320, 60}, {16384, 16384, 62},
	} {
		if got := vpxLevel(tc.w, tc.h); got != tc.want {
			t.Errorf("%dx%d: level %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
}
