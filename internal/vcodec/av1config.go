package vcodec

import (
	"bytes"

	mp4av1 "github.com/Eyevinn/mp4ff/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// AV1Config is the AV1CodecConfigurationRecord (AV1-ISOBMFF section 2.3)
// of a stream whose sequence header OBU is seq (with its size field) and
// parses to sh: MP4's av1C box and Matroska's V_AV1 CodecPrivate both
// hold it.
func AV1Config(sh *av1.SequenceHeader, seq []byte) mp4av1.CodecConfRec {
	rec := mp4av1.CodecConfRec{Version: 1, SeqProfile: sh.SeqProfile, ConfigOBUs: seq,
		ChromaSamplePosition: byte(sh.ColorConfig.ChromaSamplePosition)}
	if len(sh.SeqLevelIdx) > 0 {
		rec.SeqLevelIdx0 = sh.SeqLevelIdx[0]
	}
	if len(sh.SeqTier) > 0 && sh.SeqTier[0] {
		rec.SeqTier0 = 1
	}
	cc := sh.ColorConfig
	rec.HighBitdepth, rec.TwelveBit, rec.MonoChrome = b2u(cc.HighBitDepth), b2u(cc.TwelveBit), b2u(cc.MonoChrome)
	rec.ChromaSubsamplingX, rec.ChromaSubsamplingY = b2u(cc.SubsamplingX), b2u(cc.SubsamplingY)
	return rec
}

// AV1ConfigBytes is AV1Config serialized.
func AV1ConfigBytes(sh *av1.SequenceHeader, seq []byte) ([]byte, error) {
	rec := AV1Config(sh, seq)
	var b bytes.Buffer
	if err := rec.Encode(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
