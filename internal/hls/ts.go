package hls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	mch264 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/ars-project/ars/internal/vcodec"
)

// tsClock is MPEG-TS's 90 kHz presentation clock.
const tsClock = 90000

// tsOffset is added to every presentation time: mediacommon sends the
// program clock 0.1 s before the first decode time, which must not be
// negative, and ffmpeg's muxer starts at 1.4 s for the same reason.
const tsOffset = 126000

// tsMask keeps a presentation time within its 33 bits (26.5 hours).
const tsMask = 1<<33 - 1

// Audio access units share a PES packet up to these bounds, as ffmpeg's
// muxer does (pes_payload_size 2930, max_delay 0.7 s): mediacommon
// repeats the PAT and PMT before every audio PES, so one per frame would
// cost more than the audio.
const (
	tsAudioPES      = 2930
	tsAudioPESDelay = 700 * time.Millisecond
)

// audNAL is the access unit delimiter put before every H.264 picture
// (mediacommon would add it by reallocating the NAL list).
var audNAL = []byte{byte(mch264.NALUTypeAccessUnitDelimiter), 240}

// tsState is a ContainerTS track's muxer. One mpegts.Writer lives as long
// as the track's codec configuration, writing into buf, which each
// segment takes: the continuity counters run on from segment to segment,
// as a player reading the playlist as one stream expects, and every
// segment starts with the tables (mediacommon writes the PAT and PMT
// before every keyframe and audio PES) and, for video, a keyframe.
type tsState struct {
	w     *mpegts.Writer
	track *mpegts.Track
	buf   bytes.Buffer
	// nalus and aus are reused lists of one picture's NAL units and one
	// PES packet's audio frames.
	nalus [][]byte
	aus   [][]byte
	// rotate is the EXT-X-AGORA-ROTATE tag (without its TIME) of the
	// next segment: the first picture, or the first of a new
	// orientation.
	rotate string
	// event: the next segment starts the stream or follows a gap, which
	// EXT-X-AGORA-TRACK-EVENT says.
	event bool
}

// aacState is what an AAC track (Config.Transcode) knows of the AAC the
// owner writes.
type aacState struct {
	conf  *mpeg4audio.Config
	frame time.Duration // one access unit
	have  bool
	next  time.Duration // where the next access unit is expected
}

// writer returns the muxer, made for the track's codec on first use.
func (t *Track) tsWriter() (*mpegts.Writer, error) {
	ts := t.ts
	if ts.w != nil {
		return ts.w, nil
	}
	var codec mpegts.Codec
	switch {
	case t.video != nil:
		codec = &mpegts.CodecH264{}
	case t.aac != nil:
		codec = &mpegts.CodecMPEG4Audio{Config: *t.aac.conf}
	default:
		codec = &mpegts.CodecOpus{ChannelCount: t.cfg.Channels}
	}
	ts.track = &mpegts.Track{Codec: codec}
	ts.w = &mpegts.Writer{W: &ts.buf, Tracks: []*mpegts.Track{ts.track}}
	if err := ts.w.Initialize(); err != nil {
		ts.w = nil
		return nil, fmt.Errorf("hls: mpeg-ts writer: %w", err)
	}
	return ts.w, nil
}

// tsPTS is track time n (in the track's clock) on the 90 kHz clock.
func (s *segmenter) tsPTS(n int64) int64 {
	return (tsOffset + n*tsClock/s.timescale) & tsMask
}

// tsSegment muxes samples as one MPEG-TS segment; the bytes are valid
// until the next call. total is the segment's length in track time.
func (t *Track) tsSegment(samples []sample) (data []byte, total int64, err error) {
	w, err := t.tsWriter()
	if err != nil {
		return nil, 0, err
	}
	ts, s := t.ts, t.seg
	ts.buf.Reset()
	if t.video != nil {
		for _, smp := range samples {
			total += sampleDur(smp)
			if !splitAVCC(&ts.nalus, smp.data) {
				// Cannot happen: the track wrote the picture itself.
				return nil, 0, fmt.Errorf("hls: picture at %d is not length-prefixed", smp.dts)
			}
			pts := s.tsPTS(smp.dts)
			// WebRTC sends no B-frames: presentation is decode order.
			if err := w.WriteH264(ts.track, pts, pts, ts.nalus); err != nil {
				return nil, 0, fmt.Errorf("hls: mpeg-ts h264: %w", err)
			}
		}
		return ts.buf.Bytes(), total, nil
	}
	maxDelay := int64(tsAudioPESDelay) * s.timescale / int64(time.Second)
	for i := 0; i < len(samples); {
		first := samples[i]
		ts.aus = append(ts.aus[:0], first.data)
		size := len(first.data)
		total += sampleDur(first)
		j := i + 1
		for ; j < len(samples); j++ {
			prev, smp := samples[j-1], samples[j]
			if smp.dts != prev.dts+prev.dur || size+len(smp.data) > tsAudioPES || smp.dts-first.dts >= maxDelay {
				break
			}
			ts.aus = append(ts.aus, smp.data)
			size += len(smp.data)
			total += sampleDur(smp)
		}
		pts := s.tsPTS(first.dts)
		if t.aac != nil {
			err = w.WriteMPEG4Audio(ts.track, pts, ts.aus)
		} else {
			err = w.WriteOpus(ts.track, pts, ts.aus)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("hls: mpeg-ts audio: %w", err)
		}
		i = j
	}
	return ts.buf.Bytes(), total, nil
}

// markDiscontinuity sets the discontinuity indicator in the adaptation
// field of the first packet of the elementary stream in seg (every
// segment's first PES has one: a keyframe's or an audio frame's random
// access indicator). A segment after a gap follows one that was never
// written or a muxer of an earlier run, whose continuity counters do not
// run on into it; the indicator tells a demuxer so (ffmpeg flags the
// packet corrupt otherwise), and that the clock jumps. mediacommon's
// Writer has no word for it: this flips one flag bit in what it wrote.
func (ts *tsState) markDiscontinuity(seg []byte) {
	for i := 0; i+188 <= len(seg); i += 188 {
		p := seg[i : i+188]
		pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
		if p[0] != 0x47 || pid != ts.track.PID {
			continue
		}
		if p[3]&0x20 != 0 && p[4] > 0 {
			p[5] |= 0x80
		}
		return
	}
}

// sampleDur is a sample's duration as a segment counts it.
func sampleDur(smp sample) int64 {
	if smp.dur <= 0 {
		return 1
	}
	return smp.dur
}

// splitAVCC cuts a length-prefixed access unit into its NAL units after
// an access unit delimiter, reusing *out. It reports false if the lengths
// do not add up.
func splitAVCC(out *[][]byte, b []byte) bool {
	nalus := append((*out)[:0], audNAL)
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if n == 0 || uint64(n) > uint64(len(b)-4) {
			return false
		}
		nal := b[4 : 4+n]
		if nal[0]&0x1f != byte(mch264.NALUTypeAccessUnitDelimiter) {
			nalus = append(nalus, nal)
		}
		b = b[4+n:]
	}
	*out = nalus
	return len(nalus) > 1
}

// rotateTag is Agora's EXT-X-AGORA-ROTATE for a picture of the current
// parameter sets shown in orientation o, without its TIME. Agora's
// ROTATE is "the degrees by which the video rotates anticlockwise": a
// picture turned anticlockwise by that much, which a player turns back
// clockwise, which is what CVO's rotation says. MPEG-TS has no display
// matrix, so this tag is the only place the orientation is written; a
// mirrored picture (CVO's flip) has no word in it.
func (t *Track) rotateTag(o vcodec.Orientation) string {
	var sps mch264.SPS
	w, h := 0, 0
	if err := sps.Unmarshal(t.video.sps); err == nil {
		w, h = sps.Width(), sps.Height()
	}
	return fmt.Sprintf("#EXT-X-AGORA-ROTATE:WIDTH=%d,HEIGHT=%d,ROTATE=%d", w, h, o.Rotation)
}

// transcode hands one Opus packet at track time dts to Config.Transcode.
func (t *Track) transcode(dts int64, opus []byte) {
	t.cfg.Transcode(t.seg.ticks(dts), opus)
}

// SetAACConfig gives an AAC track (Config.Transcode) the MPEG-4
// AudioSpecificConfig of the AAC that WriteAAC will carry: AAC-LC, 1024
// samples a frame (what ADTS in MPEG-TS can say). Call it before the
// first WriteAAC; a different configuration later starts a new segment
// after a discontinuity.
func (t *Track) SetAACConfig(asc []byte) error {
	if t.closed {
		return ErrClosed
	}
	if t.aac == nil {
		return fmt.Errorf("%w: not an AAC track", ErrCodec)
	}
	var c mpeg4audio.Config
	if err := c.Unmarshal(asc); err != nil {
		return fmt.Errorf("%w: %w", ErrAACConfig, err)
	}
	if c.Type != mpeg4audio.ObjectTypeAACLC || c.FrameLengthFlag || c.SampleRate <= 0 ||
		c.ChannelCount < 1 || c.ChannelCount > 8 {
		return fmt.Errorf("%w: %d channels of object type %d at %d Hz (960-sample frames %v)", ErrAACConfig,
			c.ChannelCount, c.Type, c.SampleRate, c.FrameLengthFlag)
	}
	a := t.aac
	if a.conf != nil {
		if *a.conf == c {
			return nil
		}
		// A new configuration needs new tables: its own segment.
		if err := t.seg.flush(); err != nil {
			t.fail()
			return err
		}
		t.ts.w = nil
		t.seg.disc = true
		a.have = false
	}
	a.conf = &c
	a.frame = mpeg4audio.SamplesPerAccessUnit * time.Second / time.Duration(c.SampleRate)
	return nil
}

// WriteAAC adds one AAC access unit (raw, without an ADTS header) that
// the encoder made from the Opus given to Config.Transcode; pts is its
// presentation time on the same clock. It must be called on the
// goroutine that feeds the track, after SetAACConfig, in presentation
// order. An access unit overlapping the previous one is dropped; a short
// hole (encoder jitter) is closed up. Like WriteRTP, an error means a
// file could not be written, and the track goes on after a gap.
func (t *Track) WriteAAC(pts time.Duration, au []byte) error {
	if t.closed {
		return ErrClosed
	}
	if t.aac == nil {
		return fmt.Errorf("%w: not an AAC track", ErrCodec)
	}
	if t.aac.conf == nil {
		return ErrAACConfig
	}
	if len(au) == 0 || len(au) > mpeg4audio.MaxAccessUnitSize || pts < 0 {
		t.dropped++
		return nil
	}
	err := t.writeAAC(pts, au)
	if err != nil {
		t.fail()
	}
	return err
}

func (t *Track) writeAAC(pts time.Duration, au []byte) error {
	a, s := t.aac, t.seg
	if a.have {
		switch d := pts - a.next; {
		case d < -a.frame/2:
			t.dropped++
			return nil
		case d < a.frame/2:
			pts = a.next
		}
	}
	dts := int64(pts) * s.timescale / int64(time.Second)
	end := int64(pts+a.frame) * s.timescale / int64(time.Second)
	if n := len(s.cur); a.have && n > 0 {
		// A hole the encoder left stretches the frame before it: the
		// playlist's durations keep the time line.
		if last := &s.cur[n-1]; dts > last.dts+last.dur && dts-last.dts <= maxFill*s.timescale {
			last.dur = dts - last.dts
		}
	}
	if !s.initDone {
		if err := s.writeInit(&initSeg{}); err != nil {
			return err
		}
	}
	if !s.hasOrigin {
		// Transcode always runs first; a caller writing AAC without it
		// gets the wall clock now.
		s.origin, s.hasOrigin = time.Now().Add(-pts), true
	}
	a.have, a.next = true, pts+a.frame
	return s.add(sample{dts: dts, dur: end - dts, key: true, data: append([]byte(nil), au...), at: s.origin.Add(pts)})
}

// Flush hands on every packet the reorder buffer is holding, as Close
// does first: an AAC track's owner calls it at the end, so that the last
// Opus packets reach Config.Transcode, then writes what the encoder
// returns with WriteAAC, then calls Close.
func (t *Track) Flush() error {
	if t.closed {
		return ErrClosed
	}
	if !t.inBound {
		return nil
	}
	err := t.rb.Flush(t.inSSRC, t.sink())
	t.rb.Reset()
	t.inBound = false
	if err != nil {
		t.fail()
	}
	return err
}
