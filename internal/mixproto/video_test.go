package mixproto

import (
	"errors"
	"testing"

	"github.com/ars-project/ars/internal/vcodec"
)

// TestVideoFlagsCompatible: the flags of the units written before codecs
// and orientation travelled (0 and FlagKey) still read as upright H.264.
func TestVideoFlagsCompatible(t *testing.T) {
	for f, key := range map[uint8]bool{0: false, FlagKey: true} {
		m, err := ParseVideoFlags(f)
		if err != nil || m.Codec != vcodec.H264 || m.Key != key || m.Orientation.Turned() {
			t.Fatalf("flags %#x read as %+v, %v", f, m, err)
		}
	}
}

// TestVideoFlagsRoundTrip writes every VideoMeta the protocol carries and
// reads it back; a codec it does not carry is refused on reading.
func TestVideoFlagsRoundTrip(t *testing.T) {
	for _, c := range vcodec.All() {
		for rot := 0; rot < 360; rot += 90 {
			for _, flip := range []bool{false, true} {
				for _, key := range []bool{false, true} {
					m := VideoMeta{Key: key, Codec: c, Orientation: vcodec.Orientation{Rotation: rot, Flip: flip}}
					got, err := ParseVideoFlags(m.Flags())
					if err != nil || got != m {
						t.Fatalf("%+v: flags %#x read back as %+v, %v", m, m.Flags(), got, err)
					}
				}
			}
		}
	}
	// The camera bit does not travel: it does not change the picture.
	m := VideoMeta{Codec: vcodec.VP8, Orientation: vcodec.Orientation{Rotation: 270, BackCamera: true}}
	if got, _ := ParseVideoFlags(m.Flags()); got.Orientation != (vcodec.Orientation{Rotation: 270}) {
		t.Fatalf("read back %+v", got)
	}
	if _, err := ParseVideoFlags(VideoMeta{Codec: vcodec.Unknown, Key: true}.Flags()); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// TestVideoFlagsEveryByte reads all 256 flags bytes: the codec codes 4-7
// are refused, every other byte reads to a VideoMeta that writes the same
// byte back (the reserved bit 7 aside).
func TestVideoFlagsEveryByte(t *testing.T) {
	for i := 0; i < 256; i++ {
		f := uint8(i)
		m, err := ParseVideoFlags(f)
		if code := f >> 1 & 7; code >= 4 {
			if !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("flags %#x (codec code %d): %+v, %v", f, code, m, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("flags %#x: %v", f, err)
		}
		if m.Flags() != f&^0x80 {
			t.Fatalf("flags %#x read as %+v, written %#x", f, m, m.Flags())
		}
	}
}
