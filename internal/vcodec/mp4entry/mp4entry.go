// Package mp4entry builds the ISO BMFF boxes that describe a recorded
// video track, for the two writers that need them: the capture converter
// (internal/transcode, progressive MP4) and the live individual-mode
// writer (internal/hls, fragmented MP4). One place knows the VP8, VP9
// and AV1 sample entries and how a display matrix gets into a track
// header, so that both files describe a stream the same way.
package mp4entry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	mp4av1 "github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/ars-project/ars/internal/vcodec"
)

// ErrNoConfig means the stream has not said enough to describe it (an
// AV1 track without a sequence header), or the codec has no entry here.
var ErrNoConfig = errors.New("mp4entry: no usable codec configuration")

// Params is what a VP8, VP9 or AV1 sample entry is built from: a
// keyframe's coded size and the configuration the bitstream carries.
type Params struct {
	Codec         vcodec.Codec
	Width, Height int
	// VP9 is a VP9 keyframe's header (profile, bit depth, subsampling,
	// range); without one the entry says profile 0, 8 bits, 4:2:0.
	VP9 *vp9.Header
	// AV1 and SequenceHeader are an AV1 key temporal unit's sequence
	// header, parsed and as the OBU (with its size field) av1C holds.
	AV1            *av1.SequenceHeader
	SequenceHeader []byte
}

// FrameParams is the Params of keyframe f of codec c, owning its data
// (a vcodec.Frame's buffers are reused by the assembler).
func FrameParams(c vcodec.Codec, f *vcodec.Frame) Params {
	p := Params{Codec: c, Width: f.Width, Height: f.Height, SequenceHeader: bytes.Clone(f.SequenceHeader)}
	if f.VP9 != nil {
		h := *f.VP9
		p.VP9 = &h
	}
	if f.AV1 != nil {
		sh := *f.AV1
		p.AV1 = &sh
	}
	return p
}

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

// SampleEntry builds the sample entry of a VP8 (vp08 + vpcC), VP9 (vp09 +
// vpcC) or AV1 (av01 + av1C) track, as the VP codec ISO BMFF binding and
// AV1-ISOBMFF define them.
func SampleEntry(p Params) (mp4.Box, error) {
	w, h := uint16(p.Width), uint16(p.Height)
	switch p.Codec {
	case vcodec.VP8:
		return mp4.CreateVisualSampleEntryBox("vp08", w, h, vpcC(p)), nil
	case vcodec.VP9:
		return mp4.CreateVisualSampleEntryBox("vp09", w, h, vpcC(p)), nil
	case vcodec.AV1:
		rec, err := av1C(p)
		if err != nil {
			return nil, err
		}
		return mp4.CreateVisualSampleEntryBox("av01", w, h, &mp4.Av1CBox{CodecConfRec: rec}), nil
	}
	return nil, fmt.Errorf("%w: codec %v", ErrNoConfig, p.Codec)
}

// vpcC is the VP codec configuration box of a VP8 or VP9 track.
func vpcC(p Params) *mp4.VppCBox {
	// Colour: unspecified (2) unless the bitstream says more, which is
	// what encoders without VUI-like signalling mean.
	b := &mp4.VppCBox{Version: 1, Level: vpxLevel(p.Width, p.Height), BitDepth: 8, ChromaSubsampling: 1,
		ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2}
	if hd := p.VP9; p.Codec == vcodec.VP9 && hd != nil {
		b.Profile = hd.Profile
		b.ChromaSubsampling = hd.ChromaSubsampling()
		if cc := hd.ColorConfig; cc != nil {
			if cc.BitDepth > 0 {
				b.BitDepth = cc.BitDepth
			}
			if cc.ColorRange {
				b.VideoFullRangeFlag = 1
			}
		}
	}
	return b
}

// av1C is the AV1 codec configuration record of an AV1 track.
func av1C(p Params) (mp4av1.CodecConfRec, error) {
	sh := p.AV1
	if sh == nil || len(p.SequenceHeader) == 0 {
		return mp4av1.CodecConfRec{}, fmt.Errorf("%w: no AV1 sequence header", ErrNoConfig)
	}
	return vcodec.AV1Config(sh, p.SequenceHeader), nil
}

// WithMatrix returns tkhd with a display matrix other than identity.
// mp4ff's TkhdBox always writes the identity matrix, so the box is
// encoded by mp4ff and its matrix field (ISO/IEC 14496-12 section 8.3.2:
// nine 32-bit values after layer, alternate group, volume and 2 reserved
// bytes) overwritten; the result is an opaque box to put where tkhd goes.
func WithMatrix(tkhd *mp4.TkhdBox, m [9]int32) (mp4.Box, error) {
	var buf bytes.Buffer
	if err := tkhd.Encode(&buf); err != nil {
		return nil, fmt.Errorf("tkhd: %w", err)
	}
	b := buf.Bytes()
	// header 8, version+flags 4, then times, track ID, reserved and
	// duration: 20 bytes in version 0, 32 in version 1; then reserved 8,
	// layer 2, alternate group 2, volume 2, reserved 2.
	off := 8 + 4 + 20 + 8 + 8
	if tkhd.Version == 1 {
		off = 8 + 4 + 32 + 8 + 8
	}
	if len(b) < off+36 {
		return nil, fmt.Errorf("tkhd: %d bytes, too short for a matrix", len(b))
	}
	for i, v := range m {
		binary.BigEndian.PutUint32(b[off+4*i:], uint32(v))
	}
	return mp4.CreateUnknownBox("tkhd", uint64(len(b)), b[8:]), nil
}
