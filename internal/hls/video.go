package hls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/transcode/h264"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/vcodec/mp4entry"
)

// cvoMeta marks a packet's rtpreorder meta byte as carrying a CVO byte in
// its low bits; 0 means the packet said nothing about the orientation.
const cvoMeta = 0x80

// videoState rebuilds pictures: H.264 access units from NAL units, VP8
// and VP9 frames and AV1 temporal units with vcodec.Assembler. Like the
// capture converter it keeps only pictures a decoder can decode: it
// starts at a keyframe and, after any loss, waits for the next one.
type videoState struct {
	codec   vcodec.Codec
	needKey bool
	lost    bool
	markers bool
	cur     vframe

	// H.264: the depacketizer and the newest parameter sets.
	dep      h264.Depacketizer
	sps, pps []byte
	// VP8, VP9 and AV1.
	asm *vcodec.Assembler

	// want is the orientation the sender last signalled (CVO); initO is
	// the one the newest init segment shows, hasInit whether there is
	// one (written, or waiting with the pending picture).
	want    vcodec.Orientation
	initO   vcodec.Orientation
	hasInit bool

	// pending is the newest kept picture: its duration is known only
	// when the next one arrives.
	pending    sample
	hasPending bool
	lastDur    int64
}

type vframe struct {
	h264.AccessUnit // H.264 only
	open, sawMarker bool
	dts             int64
	at              time.Time
}

func newVideoState(c vcodec.Codec) *videoState {
	v := &videoState{codec: c, needKey: true}
	if c != vcodec.H264 {
		v.asm = vcodec.NewAssembler(c)
	}
	return v
}

// reset forgets the picture being assembled and the pending one: what
// follows must start at a keyframe.
func (v *videoState) reset() {
	v.dep.Reset()
	v.cur.open = false
	v.hasPending = false
	v.lost = false
	v.needKey = true
}

// note records the orientation a packet signalled (meta from PushMeta).
// A packet without one leaves it as it was: senders repeat it only on
// keyframes and when it changes.
func (v *videoState) note(meta uint8) {
	if meta&cvoMeta != 0 {
		v.want = vcodec.ParseCVO(meta &^ cvoMeta)
	}
}

// damage marks the open picture as missing packets.
func (v *videoState) damage() {
	if v.asm != nil {
		v.asm.Lost()
		return
	}
	v.dep.Reset()
	v.cur.Damaged = true
}

func (t *Track) videoPacket(at time.Time, dts int64, gap, marker bool, meta uint8, payload []byte) error {
	v := t.video
	if gap {
		if v.asm == nil {
			v.dep.Reset()
		}
		v.lost = true
		// The missing packets may be this picture's tail (its marker
		// lost with them) or its middle: either way it is incomplete.
		if v.cur.open {
			v.damage()
		}
	}
	if len(payload) == 0 {
		v.note(meta)
		return nil
	}
	if !v.cur.open || v.cur.dts != dts {
		if err := t.endVideoFrame(false); err != nil {
			return err
		}
		v.cur.AccessUnit.Reset()
		v.cur = vframe{AccessUnit: v.cur.AccessUnit, open: true, dts: dts, at: at}
		if v.asm != nil {
			v.asm.Begin()
		}
		if v.lost {
			v.needKey, v.lost = true, false
		}
	}
	// Noted only now: a packet's orientation is its own picture's, not
	// that of the picture it ended.
	v.note(meta)
	if v.asm != nil {
		v.asm.Push(payload)
	} else if err := v.dep.Push(payload, t.nal); err != nil {
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

// picture is an assembled picture as the track judges it.
type picture struct {
	data []byte
	key  bool
	// whole: nothing of it is missing.
	whole bool
	// params describes a VP8, VP9 or AV1 keyframe for its sample entry.
	params mp4entry.Params
}

// h264Picture finishes the open H.264 access unit. cut says it never
// saw its marker bit although the sender sets them.
func (t *Track) h264Picture(cut bool) (picture, bool) {
	v := t.video
	f := &v.cur
	if cut {
		f.Damaged = true
	}
	if v.dep.InFragment() {
		f.Damaged = true
		v.dep.Reset()
	}
	if !f.HasSlice {
		return picture{}, false
	}
	p := picture{key: f.Keyframe, whole: !f.Damaged}
	if f.Keyframe && (len(v.sps) == 0 || len(v.pps) == 0) {
		p.whole = false
	}
	if !p.whole {
		return p, true
	}
	data := make([]byte, 0, len(f.Buf)+len(v.sps)+len(v.pps)+8)
	if f.Keyframe && (!f.HasSPS || !f.HasPPS) {
		// Every IDR picture carries its parameter sets, so that a player
		// can start at any segment.
		data = binary.BigEndian.AppendUint32(data, uint32(len(v.sps)))
		data = append(data, v.sps...)
		data = binary.BigEndian.AppendUint32(data, uint32(len(v.pps)))
		data = append(data, v.pps...)
	}
	p.data = append(data, f.Buf...)
	return p, true
}

// framePicture finishes the open VP8 or VP9 frame or AV1 temporal unit.
func (t *Track) framePicture(cut bool) picture {
	v := t.video
	if cut {
		v.asm.Lost()
	}
	f, err := v.asm.End()
	if err != nil {
		return picture{}
	}
	p := picture{key: f.Key, whole: true, data: bytes.Clone(f.Data)}
	if f.Key {
		p.params = mp4entry.FrameParams(v.codec, &f)
	}
	return p
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
	cut := last && v.markers && !f.sawMarker
	var p picture
	if v.asm != nil {
		// Every payload began a picture: a frame is always there to keep
		// or drop.
		p = t.framePicture(cut)
	} else if pic, ok := t.h264Picture(cut); ok {
		p = pic
	} else {
		return nil // no slice: nothing to show, nothing lost
	}
	keep := p.whole && (!v.needKey || p.key)
	if keep && v.hasPending && f.dts <= v.pending.dts {
		// Time went backwards: the picture cannot be placed.
		keep = false
	}
	var init *initSeg
	if keep && p.key && (!v.hasInit || !v.want.SameView(v.initO)) {
		// The first keyframe, or the first since the camera turned: a
		// display matrix belongs to the init segment, so it needs one.
		var err error
		if init, err = t.videoInit(p.params); err != nil {
			t.log.Warn("unusable codec configuration", "codec", v.codec, "error", err)
			keep = false
		}
	}
	if !keep {
		v.needKey = true
		t.dropped++
		return nil
	}
	if p.key {
		v.needKey = false
	}
	if err := t.flushVideo(f.dts); err != nil {
		return err
	}
	v.pending = sample{dts: f.dts, key: p.key, data: p.data, at: f.at, init: init}
	v.hasPending = true
	if init != nil {
		if v.hasInit {
			t.log.Info("camera orientation changed: new init segment", "rotation", init.o.Rotation, "flip", init.o.Flip)
		}
		v.hasInit, v.initO = true, init.o
	}
	return nil
}

// videoInit encodes the init segment for the keyframe being kept, shown
// in the orientation the sender signals. An error is the stream's fault
// (parameter sets or a configuration that cannot be described).
func (t *Track) videoInit(params mp4entry.Params) (*initSeg, error) {
	v := t.video
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(uint32(t.seg.timescale), "video", "und")
	if v.codec == vcodec.H264 {
		if err := trak.SetAVCDescriptor("avc1", [][]byte{v.sps}, [][]byte{v.pps}, true); err != nil {
			return nil, fmt.Errorf("hls: avcC: %w", err)
		}
	} else {
		entry, err := mp4entry.SampleEntry(params)
		if err != nil {
			return nil, fmt.Errorf("hls: sample entry: %w", err)
		}
		trak.Tkhd.Width, trak.Tkhd.Height = mp4.Fixed32(params.Width<<16), mp4.Fixed32(params.Height<<16)
		trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	}
	if v.want.Turned() {
		w, h := int(trak.Tkhd.Width>>16), int(trak.Tkhd.Height>>16)
		turned, err := mp4entry.WithMatrix(trak.Tkhd, v.want.Matrix(w, h))
		if err != nil {
			return nil, fmt.Errorf("hls: display matrix: %w", err)
		}
		for i, b := range trak.Children {
			if b == mp4.Box(trak.Tkhd) {
				trak.Children[i] = turned
			}
		}
	}
	b, err := encodeInit(init)
	if err != nil {
		return nil, err
	}
	return &initSeg{data: b, o: v.want}, nil
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
