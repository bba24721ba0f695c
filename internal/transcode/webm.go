package transcode

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/webm"
)

// ConvertFileWebM converts the capture at src into a WebM file at dst,
// for captures whose video is VP8, VP9 or AV1 (WebM has no H.264): the
// same pictures and Opus packets, on the same timeline, as ConvertFile
// puts into an MP4. WebM has no display matrix, so a camera orientation
// the sender signalled is not kept (the MP4 keeps it). On error dst does
// not exist.
func ConvertFileWebM(ctx context.Context, src, dst string, opts ...Option) (Result, error) {
	var res Result
	err := convertWith(ctx, src, dst, opts, func(c *converter, _ storage.Header) error {
		if c.video != nil && c.video.tab.count() > 0 {
			return fmt.Errorf("%w: H.264", webm.ErrCodec)
		}
		tracks, err := c.mp4Tracks()
		if err != nil {
			return err
		}
		if err := c.writeWebM(dst, tracks); err != nil {
			_ = os.Remove(dst)
			return err
		}
		st, err := os.Stat(dst)
		if err != nil {
			return fmt.Errorf("stat webm: %w", err)
		}
		c.res.Bytes = st.Size()
		return nil
	}, &res)
	return res, err
}

// webmSample is one sample of a track, located in the spool.
type webmSample struct {
	at    time.Duration
	video bool
	key   bool
	off   int64
	size  uint32
}

// samplesOf lists a track's samples with their movie times.
func samplesOf(t *mp4Track, video bool) []webmSample {
	tab := t.tab
	out := make([]webmSample, 0, len(tab.sizes))
	sync := map[uint32]bool{}
	for _, n := range tab.syncs {
		sync[n] = true
	}
	i, ticks := 0, int64(0)
	for _, ch := range tab.chunks {
		off := ch.offset
		for k := uint32(0); k < ch.n && i < len(tab.sizes); k++ {
			out = append(out, webmSample{at: t.delay + ticksToDuration(ticks, tab.timescale), video: video,
				key: tab.allSync || sync[uint32(i+1)], off: off, size: tab.sizes[i]})
			off += int64(tab.sizes[i])
			if i < len(tab.durs) {
				ticks += int64(tab.durs[i])
			}
			i++
		}
	}
	return out
}

func (c *converter) writeWebM(dst string, tracks []mp4Track) error {
	var samples []webmSample
	var video *webm.Video
	var audio *webm.Audio
	videoParts := 0
	for i := range tracks {
		t := &tracks[i]
		if t.handler == "video" {
			videoParts++
			samples = append(samples, samplesOf(t, true)...)
			continue
		}
		audio = &webm.Audio{Channels: c.audio.channels}
		samples = append(samples, samplesOf(t, false)...)
	}
	if v := c.frames; v != nil && videoParts > 0 {
		video = &webm.Video{Codec: v.codec, Width: v.width, Height: v.height}
		if v.codec == vcodec.AV1 {
			b, err := vcodec.AV1ConfigBytes(v.av1Seq, v.seqHeader)
			if err != nil {
				return fmt.Errorf("av1 configuration: %w", err)
			}
			video.CodecPrivate = b
		}
		if videoParts > 1 {
			c.cfg.log.Warn("the camera orientation changed; WebM cannot say so, the MP4 can", "parts", videoParts)
		}
	}
	// Presentation order across tracks, video before audio at one instant.
	slices.SortStableFunc(samples, func(a, b webmSample) int {
		if d := cmp.Compare(a.at, b.at); d != 0 {
			return d
		}
		if a.video != b.video {
			if a.video {
				return -1
			}
			return 1
		}
		return 0
	})
	w, err := webm.Create(dst, video, audio, storage.FileMode)
	if err != nil {
		return err
	}
	var buf []byte
	for _, s := range samples {
		buf = slices.Grow(buf[:0], int(s.size))[:s.size]
		if err := c.sp.readAt(buf, s.off); err != nil {
			_ = w.Close()
			return err
		}
		if s.video {
			err = w.WriteVideo(s.at, s.key, buf)
		} else {
			err = w.WriteAudio(s.at, buf)
		}
		if err != nil {
			_ = w.Close()
			return err
		}
	}
	return w.Close()
}
