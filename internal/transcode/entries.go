package transcode

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/vcodec"
)

// vpxLevel is the VP9 level (VP9 bitstream specification annex A) whose
// luma picture size limit a w x h picture fits; vpcC wants one for VP8 as
// well. Players do not refuse a stream for its level, but decoders size
// buffers by it.
func vpxLevel(w, h int) uint8 {
	px := w * h
	for _, l := range []struct {
		max   int
		level uint8
	}{
		{36864, 10}, {73728, 11}, {122880, 20}, {245760, 21}, {552960, 30}, {983040, 31},
		{2228224, 40}, {8912896, 50}, {35651584, 60},
	} {
		if px <= l.max {
			return l.level
		}
	}
	return 62
}

// frameEntry builds the sample entry of a VP8 (vp08 + vpcC), VP9 (vp09 +
// vpcC) or AV1 (av01 + av1C) track, as the VP codec ISO BMFF binding and
// AV1-ISOBMFF define them.
func (v *frameTrack) entry() (mp4.Box, error) {
	w, h := uint16(v.width), uint16(v.height)
	// Colour: unspecified (2) unless the bitstream says more, which is
	// what encoders without VUI-like signalling mean.
	vpcc := &mp4.VppCBox{Version: 1, Level: vpxLevel(v.width, v.height), BitDepth: 8, ChromaSubsampling: 1,
		ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2}
	switch v.codec {
	case vcodec.VP8:
		return mp4.CreateVisualSampleEntryBox("vp08", w, h, vpcc), nil
	case vcodec.VP9:
		if hd := v.vp9Hdr; hd != nil {
			vpcc.Profile = hd.Profile
			vpcc.ChromaSubsampling = hd.ChromaSubsampling()
			if cc := hd.ColorConfig; cc != nil {
				if cc.BitDepth > 0 {
					vpcc.BitDepth = cc.BitDepth
				}
				if cc.ColorRange {
					vpcc.VideoFullRangeFlag = 1
				}
			}
		}
		return mp4.CreateVisualSampleEntryBox("vp09", w, h, vpcc), nil
	case vcodec.AV1:
		sh := v.av1Seq
		if sh == nil || len(v.seqHeader) == 0 {
			return nil, fmt.Errorf("%w: no AV1 sequence header", ErrNoMedia)
		}
		rec := vcodec.AV1Config(sh, v.seqHeader)
		return mp4.CreateVisualSampleEntryBox("av01", w, h, &mp4.Av1CBox{CodecConfRec: rec}), nil
	}
	return nil, fmt.Errorf("%w: codec %v", ErrNoMedia, v.codec)
}
