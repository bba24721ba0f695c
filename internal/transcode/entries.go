package transcode

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/vcodec/mp4entry"
)

// entry builds the sample entry of the VP8, VP9 or AV1 track from the
// first keyframe's configuration (see mp4entry.SampleEntry).
func (v *frameTrack) entry() (mp4.Box, error) {
	e, err := mp4entry.SampleEntry(mp4entry.Params{Codec: v.codec, Width: v.width, Height: v.height,
		VP9: v.vp9Hdr, AV1: v.av1Seq, SequenceHeader: v.seqHeader})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoMedia, err)
	}
	return e, nil
}
