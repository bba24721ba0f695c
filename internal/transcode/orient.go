package transcode

import "github.com/ars-project/ars/internal/vcodec"

// cvoMeta marks a packet's rtpreorder meta byte as carrying a CVO byte in
// its low bits; 0 means the packet had no orientation.
const cvoMeta = 0x80

// orientRun is the part of a video track shown one way: its own sample
// table, written as its own MP4 track with the display matrix of o.
type orientRun struct {
	tab   *sampleTable
	o     vcodec.Orientation
	start int64 // track time of its first sample
}

// orientedTable is a video track's samples split where the sender's
// camera orientation (CVO) changes. A display matrix belongs to a whole
// MP4 track, so each orientation gets a track of its own, placed on the
// movie timeline where it was shown. A new part starts only at a
// keyframe: a track cannot begin with a picture that refers to an earlier
// one, so a change signalled mid-GOP takes effect at the next keyframe
// (the daemon asks for one when it sees the change; see docs/codecs.md).
// A recording whose orientation never changes is one part, as before.
type orientedTable struct {
	sp        *spool
	timescale int64
	runs      []orientRun
	want      vcodec.Orientation
}

func newOrientedTable(sp *spool, timescale int64) *orientedTable {
	return &orientedTable{sp: sp, timescale: timescale}
}

// note records the orientation a packet signalled (meta from PushMeta).
func (o *orientedTable) note(meta uint8) {
	if meta&cvoMeta != 0 {
		o.want = vcodec.ParseCVO(meta &^ cvoMeta)
	}
}

func (o *orientedTable) cur() *sampleTable {
	if len(o.runs) == 0 {
		return nil
	}
	return o.runs[len(o.runs)-1].tab
}

func (o *orientedTable) count() int {
	n := 0
	for _, r := range o.runs {
		n += r.tab.count()
	}
	return n
}

// add appends a sample as sampleTable.add does, first opening a new part
// if the orientation changed and the sample is a keyframe.
func (o *orientedTable) add(t int64, sync bool, parts ...[]byte) error {
	if len(o.runs) == 0 {
		o.runs = append(o.runs, orientRun{tab: newSampleTable(o.sp, o.timescale), o: o.want, start: t})
	} else if last := &o.runs[len(o.runs)-1]; sync && !o.want.SameView(last.o) && last.tab.count() > 0 {
		// The previous part's last picture stays on screen until this one.
		if err := last.tab.finish(t - last.tab.last); err != nil {
			return err
		}
		o.runs = append(o.runs, orientRun{tab: newSampleTable(o.sp, o.timescale), o: o.want, start: t})
	}
	return o.cur().add(t, sync, parts...)
}

func (o *orientedTable) lastDuration() int64 {
	if t := o.cur(); t != nil {
		if d := t.lastDuration(); d > 0 {
			return d
		}
		if len(o.runs) > 1 {
			return o.runs[len(o.runs)-2].tab.lastDuration()
		}
	}
	return 0
}

func (o *orientedTable) last() int64 {
	if t := o.cur(); t != nil {
		return t.last
	}
	return 0
}

// finish closes the last part.
func (o *orientedTable) finish(lastDur int64) error {
	if t := o.cur(); t != nil {
		return t.finish(lastDur)
	}
	return nil
}
