package hls

import (
	"time"

	"github.com/ars-project/ars/internal/transcode/opus"
)

const opusRate = opus.Rate

// maxFill is the longest hole, in seconds, filled with silence.
const maxFill = 10

// audioState places Opus packets by their timestamps and fills holes
// (loss, DTX, a paused sender) with silence, so the track keeps its
// length.
type audioState struct {
	have bool
	next int64 // track time where the next packet is expected
}

func (t *Track) audioPacket(at time.Time, dts int64, payload []byte) error {
	a := t.audio
	n := opus.PacketSamples(payload)
	if n == 0 {
		t.dropped++
		return nil
	}
	step := int64(opusRate / 50)
	if a.have {
		if dts < a.next-step/2 {
			// Overlaps what is already written.
			t.dropped++
			return nil
		}
		silence := opus.Silence(2)
		if t.cfg.Channels == 1 {
			silence = opus.Silence(1)
		}
		if dts-a.next > maxFill*opusRate {
			// A jump this long is a new timeline (a sender restart), not
			// a hole worth minutes of silence frames.
			dts = a.next
		}
		for dts-a.next >= step {
			if t.aac != nil {
				t.transcode(a.next, silence)
			} else if err := t.seg.add(sample{dts: a.next, dur: step, key: true, data: silence,
				at: at.Add(-time.Duration(dts-a.next) * time.Second / opusRate)}); err != nil {
				return err
			}
			a.next += step
		}
		// A shorter hole stretches the previous packet: the timeline
		// stays contiguous.
		dts = a.next
	}
	if t.aac != nil {
		// The AAC that comes back is what the segments hold.
		if !t.seg.hasOrigin {
			t.seg.origin, t.seg.hasOrigin = at.Add(-t.seg.ticks(dts)), true
		}
		a.have = true
		a.next = dts + int64(n)
		t.lastDTS = a.next
		t.transcode(dts, payload)
		return nil
	}
	if !t.seg.initDone {
		if err := t.seg.writeAudioInit(t.cfg.Channels); err != nil {
			return err
		}
	}
	a.have = true
	a.next = dts + int64(n)
	t.lastDTS = a.next
	return t.seg.add(sample{dts: dts, dur: int64(n), key: true, data: append([]byte(nil), payload...), at: at})
}
