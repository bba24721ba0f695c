package hls

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ars-project/ars/internal/transcode/h264"
)

// videoState rebuilds H.264 access units. Like the capture converter it
// keeps only pictures a decoder can decode: it starts at an IDR picture
// and, after any loss, waits for the next one.
type videoState struct {
	dep      h264.Depacketizer
	needIDR  bool
	lost     bool
	markers  bool
	cur      vframe
	sps, pps []byte
	prefix   []byte
	// pending is the newest kept picture: its duration is known only
	// when the next one arrives.
	pending    sample
	hasPending bool
	lastDur    int64
}

type vframe struct {
	h264.AccessUnit
	open, sawMarker bool
	dts             int64
	at              time.Time
}

func (t *Track) videoPacket(at time.Time, dts int64, gap, marker bool, payload []byte) error {
	v := t.video
	if gap {
		v.dep.Reset()
		v.lost = true
		// The missing packets may be this picture's tail (its marker
		// lost with them) or its middle: either way it is incomplete.
		if v.cur.open {
			v.cur.Damaged = true
		}
	}
	if len(payload) == 0 {
		return nil
	}
	if !v.cur.open || v.cur.dts != dts {
		if err := t.endVideoFrame(false); err != nil {
			return err
		}
		v.cur.AccessUnit.Reset()
		v.cur = vframe{AccessUnit: v.cur.AccessUnit, open: true, dts: dts, at: at}
		if v.lost {
			v.needIDR, v.lost = true, false
		}
	}
	if err := v.dep.Push(payload, t.nal); err != nil {
		v.cur.Damaged = true
	}
	if marker {
		v.markers = true
		v.cur.sawMarker = true
		return t.endVideoFrame(false)
	}
	return nil
}

func (t *Track) nal(n []byte) {
	v := t.video
	switch v.cur.Add(n) {
	case h264.NALSPS:
		v.sps = append(v.sps[:0], n...)
	case h264.NALPPS:
		v.pps = append(v.pps[:0], n...)
	}
}

// endVideoFrame decides whether the open picture is kept. last says the
// stream ends here, so a picture that never saw its marker was cut off.
func (t *Track) endVideoFrame(last bool) error {
	v := t.video
	f := &v.cur
	if !f.open {
		return nil
	}
	f.open = false
	if last && v.markers && !f.sawMarker {
		f.Damaged = true
	}
	if v.dep.InFragment() {
		f.Damaged = true
		v.dep.Reset()
	}
	keep := f.HasSlice && !f.Damaged && (!v.needIDR || f.Keyframe)
	if keep && f.Keyframe && (len(v.sps) == 0 || len(v.pps) == 0) {
		keep = false
	}
	if keep && v.hasPending && f.dts <= v.pending.dts {
		// Time went backwards: the picture cannot be placed.
		keep = false
	}
	if !keep {
		if f.HasSlice {
			v.needIDR = true
			t.dropped++
		}
		return nil
	}
	if f.Keyframe && !t.seg.initDone {
		if err := t.seg.writeVideoInit(v.sps, v.pps); err != nil {
			if !errors.Is(err, errParams) {
				return err // a write error: the caller resets the track
			}
			t.log.Warn("unusable parameter sets", "error", err)
			v.needIDR = true
			return nil
		}
	}
	data := make([]byte, 0, len(f.Buf)+len(v.sps)+len(v.pps)+8)
	if f.Keyframe {
		v.needIDR = false
		// Every IDR picture carries its parameter sets, so that a player
		// can start at any segment.
		if !f.HasSPS || !f.HasPPS {
			data = binary.BigEndian.AppendUint32(data, uint32(len(v.sps)))
			data = append(data, v.sps...)
			data = binary.BigEndian.AppendUint32(data, uint32(len(v.pps)))
			data = append(data, v.pps...)
		}
	}
	data = append(data, f.Buf...)
	if err := t.flushVideo(f.dts); err != nil {
		return err
	}
	v.pending = sample{dts: f.dts, key: f.Keyframe, data: data, at: f.at}
	v.hasPending = true
	return nil
}

// flushVideo hands the pending picture to the segmenter once the next
// picture's time (or, at the end, a nominal duration) is known.
func (t *Track) flushVideo(next ...int64) error {
	v := t.video
	if !v.hasPending {
		return nil
	}
	p := v.pending
	if len(next) > 0 && next[0]-p.dts <= maxFill*int64(t.cfg.ClockRate) {
		p.dur = next[0] - p.dts
	} else {
		p.dur = v.lastDur
		if p.dur <= 0 {
			p.dur = int64(t.cfg.ClockRate) / 25
		}
	}
	v.lastDur = p.dur
	v.hasPending = false
	t.lastDTS = p.dts + p.dur
	return t.seg.add(p)
}
