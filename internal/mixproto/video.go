package mixproto

import (
	"fmt"

	"github.com/ars-project/ars/internal/vcodec"
)

// A video unit's flags byte (TypeVideo):
//
//	bit 0     FlagKey
//	bits 1-3  the codec: 0 H.264, 1 VP8, 2 VP9, 3 AV1; 4-7 are refused
//	bits 4-5  the display rotation, in clockwise quarter turns
//	bit 6     a left-right mirror after the rotation
//	bit 7     reserved, written 0 and ignored
//
// Bits 4-6 are the sender's camera orientation (CVO, vcodec.Orientation):
// the mixer turns the decoded picture so, before it composes it. Before
// codecs other than H.264 and orientation existed, every video unit's
// flags were 0 or FlagKey: H.264, upright, as they still read.
const (
	codecShift       = 1
	codecMask  uint8 = 0x07
	rotShift         = 4
	rotMask    uint8 = 0x03
	flagFlip   uint8 = 1 << 6
)

// The codec numbers of the flags byte. They are the protocol's own, not
// vcodec's constants: a reordering there must not change the wire.
var wireCodecs = [...]vcodec.Codec{vcodec.H264, vcodec.VP8, vcodec.VP9, vcodec.AV1}

// codeUnknown is what a unit of no codec the protocol knows is written
// with: a reserved code, so the mixer refuses it instead of feeding it to
// the H.264 decoder.
const codeUnknown = 7

// VideoMeta is what a video unit's flags byte says about it.
type VideoMeta struct {
	Key   bool
	Codec vcodec.Codec
	// Orientation is how to turn the decoded picture to show it upright.
	// Only Rotation and Flip travel; BackCamera does not change the
	// picture.
	Orientation vcodec.Orientation
}

// Flags is the flags byte that says v. A codec the protocol does not know
// gets a reserved code, which ParseVideoFlags refuses.
func (v VideoMeta) Flags() uint8 {
	var f uint8
	if v.Key {
		f |= FlagKey
	}
	code := uint8(codeUnknown)
	for i, c := range wireCodecs {
		if c == v.Codec {
			code = uint8(i)
			break
		}
	}
	f |= code << codecShift
	f |= (uint8(v.Orientation.Rotation/90) & rotMask) << rotShift
	if v.Orientation.Flip {
		f |= flagFlip
	}
	return f
}

// ParseVideoFlags reads a video unit's flags byte. It fails with
// ErrUnknownCodec for a codec code this version does not know.
func ParseVideoFlags(f uint8) (VideoMeta, error) {
	code := int((f >> codecShift) & codecMask)
	if code >= len(wireCodecs) {
		return VideoMeta{}, fmt.Errorf("%w: code %d", ErrUnknownCodec, code)
	}
	return VideoMeta{
		Key:   f&FlagKey != 0,
		Codec: wireCodecs[code],
		Orientation: vcodec.Orientation{
			Rotation: 90 * int((f>>rotShift)&rotMask),
			Flip:     f&flagFlip != 0,
		},
	}, nil
}

// Video reads the flags of a TypeVideo unit.
func (m Media) Video() (VideoMeta, error) { return ParseVideoFlags(m.Flags) }
