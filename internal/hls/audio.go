package hls

import "time"

const opusRate = 48000

// maxFill is the longest hole, in seconds, filled with silence.
const maxFill = 10

// opusSilence is a 20 ms Opus frame that decodes to silence (CELT,
// fullband), mono and stereo.
var (
	opusSilenceMono   = []byte{0xf8, 0xff, 0xfe}
	opusSilenceStereo = []byte{0xfc, 0xff, 0xfe}
)

// audioState places Opus packets by their timestamps and fills holes
// (loss, DTX, a paused sender) with silence, so the track keeps its
// length.
type audioState struct {
	have bool
	next int64 // track time where the next packet is expected
}

func (t *Track) audioPacket(at time.Time, dts int64, payload []byte) error {
	a := t.audio
	n := opusSamples(payload)
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
		silence := opusSilenceStereo
		if t.cfg.Channels == 1 {
			silence = opusSilenceMono
		}
		if dts-a.next > maxFill*opusRate {
			// A jump this long is a new timeline (a sender restart), not
			// a hole worth minutes of silence frames.
			dts = a.next
		}
		for dts-a.next >= step {
			if err := t.seg.add(sample{dts: a.next, dur: step, key: true, data: silence,
				at: at.Add(-time.Duration(dts-a.next) * time.Second / opusRate)}); err != nil {
				return err
			}
			a.next += step
		}
		// A shorter hole stretches the previous packet: the timeline
		// stays contiguous.
		dts = a.next
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

// opusSamples returns how many 48 kHz samples an Opus packet decodes to
// (RFC 6716 section 3.1), or 0 if the packet is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := int(toc >> 3)
	var frame int // in 2.5 ms units
	switch {
	case config < 12:
		frame = [4]int{4, 8, 16, 24}[config&3]
	case config < 16:
		frame = [2]int{4, 8}[config&1]
	default:
		frame = [4]int{1, 2, 4, 8}[config&3]
	}
	var count int
	switch toc & 3 {
	case 0:
		count = 1
	case 1, 2:
		count = 2
	default:
		if len(p) < 2 {
			return 0
		}
		count = int(p[1] & 0x3f)
	}
	if count == 0 || frame*count > 48 {
		return 0
	}
	return frame * count * opusRate / 400
}
