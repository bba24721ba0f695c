package transcode

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"time"

	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/transcode/h264"
)

// videoTrack rebuilds H.264 access units from RTP and keeps only those a
// decoder can decode without error: it starts at the first IDR picture,
// and after any loss it drops pictures until the next IDR, because a
// P picture whose references are gone decodes to garbage (and fails
// ffmpeg -xerror).
type videoTrack struct {
	log   *slog.Logger
	tl    timeline
	tab   *orientedTable
	dep   h264.Depacketizer
	emitF func([]byte)

	ssrc    uint32
	bound   bool
	needIDR bool
	lost    bool // a gap since the last frame boundary
	markers bool // the sender sets the marker bit on last packets
	pace    pacer
	grid    grid

	cur frame

	sps, pps     []byte // latest parameter sets seen in the stream
	firstSPS     []byte
	firstPPS     []byte
	psChanged    bool
	width        int
	height       int
	prefix       []byte
	reach        int64 // track time of the latest dropped picture
	used, droppd int
}

// frame is the access unit being assembled: NAL units in AVCC form
// (4-byte length prefixes).
type frame struct {
	h264.AccessUnit
	open      bool
	ts        int64
	at        time.Duration
	ssrc      uint32
	packets   int
	sawMarker bool
}

func newVideoTrack(log *slog.Logger, sp *spool, clock uint32, sps, pps []byte) *videoTrack {
	v := &videoTrack{log: log, tl: newTimeline(clock), tab: newOrientedTable(sp, int64(clock)), needIDR: true,
		sps: sps, pps: pps}
	v.emitF = v.nal
	return v
}

func (v *videoTrack) Packet(ssrc uint32, p *rtpreorder.Packet, gap bool) error {
	if !v.bound || ssrc != v.ssrc {
		// Another SSRC continues the track: a new encoder, which has to
		// start with an IDR picture anyway.
		if err := v.endLastFrame(); err != nil {
			return err
		}
		v.dep.Reset()
		v.ssrc, v.bound, v.needIDR, v.markers = ssrc, true, true, false
	}
	if gap {
		v.dep.Reset()
		v.lost = true
		// As in frameTrack: the open frame lost its tail if the gap is
		// inside it or it never saw its marker bit.
		if v.cur.open && (v.cur.ts == p.TS || (v.markers && !v.cur.sawMarker)) {
			v.cur.Damaged = true
		}
	}
	v.tab.note(p.Meta)
	if len(p.Payload) == 0 {
		// Padding only: it takes a sequence number but carries no media
		// and does not delimit frames.
		return nil
	}
	if !v.cur.open || p.TS != v.cur.ts {
		if err := v.endFrame(); err != nil {
			return err
		}
		v.cur.AccessUnit.Reset()
		v.cur = frame{AccessUnit: v.cur.AccessUnit, open: true, ts: p.TS, at: p.At, ssrc: ssrc}
		if v.lost {
			// Pictures were lost in between: whatever references them is
			// undecodable until the next IDR.
			v.needIDR, v.lost = true, false
		}
	}
	v.cur.packets++
	if p.At < v.cur.at {
		v.cur.at = p.At
	}
	if p.Marker {
		v.cur.sawMarker = true
		v.markers = true
	}
	if err := v.dep.Push(p.Payload, v.emitF); err != nil {
		v.cur.Damaged = true
	}
	return nil
}

// nal adds one NAL unit to the current frame and keeps the stream's
// parameter sets.
func (v *videoTrack) nal(n []byte) {
	switch v.cur.Add(n) {
	case h264.NALSPS:
		v.sps = append(v.sps[:0], n...)
	case h264.NALPPS:
		v.pps = append(v.pps[:0], n...)
	}
}

// endFrame decides whether the current frame goes into the MP4.
func (v *videoTrack) endFrame() error {
	f := &v.cur
	if !f.open {
		return nil
	}
	f.open = false
	if v.dep.InFragment() {
		// The frame ended inside a fragmented NAL unit: its tail was lost.
		f.Damaged = true
		v.dep.Reset()
	}
	keep := f.HasSlice && !f.Damaged && (!v.needIDR || f.Keyframe)
	if keep && f.Keyframe && (len(v.sps) == 0 || len(v.pps) == 0) {
		keep = false
	}
	if !keep {
		if f.HasSlice {
			v.needIDR = true
		}
		v.droppd += f.packets
		v.noteDropped(f)
		return nil
	}
	t, ok := v.tl.place(f.ssrc, f.ts, f.at)
	if !ok {
		v.needIDR = true
		v.droppd += f.packets
		return nil
	}
	if f.Keyframe {
		v.noteParameterSets()
	}
	if v.grid.n == 0 {
		// The first picture is an IDR one, so the parameter sets the
		// file declares, and players go by, are known here.
		num, den := spsFrameRate(v.firstSPS)
		v.grid = newGrid(v.tl.clock, num, den)
		v.log.Debug("video grid", "declared_rate", v.grid.declared, "slots_per_second", float64(v.grid.num)/float64(v.grid.den))
	}
	declared := v.grid.declared
	t = v.grid.place(v.pace.place(t))
	if declared && !v.grid.declared {
		v.log.Warn("video comes faster than its SPS declares: the rest of the track goes on the fine grid; " +
			"players that time output by the declared rate will show two pictures on one tick")
	}
	var prefix []byte
	if f.Keyframe {
		// Every IDR picture carries its parameter sets in-band, so that a
		// player can start at any keyframe and a resolution change decodes.
		prefix = v.prefix[:0]
		if !f.HasSPS || !f.HasPPS {
			prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(v.sps)))
			prefix = append(prefix, v.sps...)
			prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(v.pps)))
			prefix = append(prefix, v.pps...)
		}
		v.prefix = prefix
		v.needIDR = false
	}
	v.used += f.packets
	return v.tab.add(t, f.Keyframe, prefix, f.Buf)
}

// noteDropped remembers how far the track's time reaches with a dropped
// picture, so that pictures lost at the end do not shorten the track: the
// last kept picture stays on screen for them, as it does mid-stream.
func (v *videoTrack) noteDropped(f *frame) {
	if t, ok := v.tl.peek(f.ssrc, f.ts, f.at); ok && t > v.reach {
		v.reach = t
	}
}

func (v *videoTrack) noteParameterSets() {
	if v.firstSPS == nil {
		v.firstSPS = bytes.Clone(v.sps)
		v.firstPPS = bytes.Clone(v.pps)
		v.width, v.height = spsSize(v.firstSPS)
		return
	}
	if !v.psChanged && (!bytes.Equal(v.sps, v.firstSPS) || !bytes.Equal(v.pps, v.firstPPS)) {
		v.psChanged = true
		w, h := spsSize(v.sps)
		v.log.Info("video parameter sets changed", "width", w, "height", h)
	}
}

// endLastFrame ends the frame of an SSRC that stops here. A frame that
// never saw its marker bit was cut off (the capture or the stream ended
// mid-frame) and is dropped, unless the sender never sets marker bits.
func (v *videoTrack) endLastFrame() error {
	if v.cur.open && v.markers && !v.cur.sawMarker {
		v.cur.Damaged = true
	}
	return v.endFrame()
}

// finish ends the track.
func (v *videoTrack) finish() error {
	if err := v.endLastFrame(); err != nil {
		return err
	}
	last := v.tab.lastDuration()
	if last == 0 {
		last = v.tl.clock / 30
	}
	if v.reach > v.tl.last {
		last += v.reach - v.tl.last
	}
	return v.tab.finish(last)
}
