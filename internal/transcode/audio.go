package transcode

import (
	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/transcode/opus"
)

const opusRate = opus.Rate

// audioTrack puts Opus packets on a timeline that follows their RTP
// timestamps. Where packets are missing (loss, DTX, a paused sender) it
// inserts 20 ms silence frames, so the track keeps its length and never
// drifts against video.
type audioTrack struct {
	tl       timeline
	tab      *sampleTable
	silence  []byte
	clock    int64
	channels int

	ssrc   uint32
	bound  bool
	have   bool
	pend   []byte
	pendT  int64
	pendD  int64 // ticks the pending packet decodes to
	used   int
	droppd int
}

func newAudioTrack(sp *spool, clock uint32, channels int) *audioTrack {
	a := &audioTrack{tl: newTimeline(clock), tab: newSampleTable(sp, int64(clock)), clock: int64(clock), channels: channels,
		silence: opus.Silence(2)}
	if channels == 1 {
		a.silence = opus.Silence(1)
	}
	return a
}

func (a *audioTrack) Packet(ssrc uint32, p *rtpreorder.Packet, _ bool) error {
	if len(p.Payload) == 0 {
		return nil
	}
	samples := opus.PacketSamples(p.Payload)
	if samples == 0 {
		a.droppd++
		return nil
	}
	t, ok := a.tl.place(ssrc, p.TS, p.At)
	if !ok {
		a.droppd++
		return nil
	}
	if err := a.flushPending(t); err != nil {
		return err
	}
	a.have = true
	a.pend = append(a.pend[:0], p.Payload...)
	a.pendT = t
	a.pendD = int64(samples) * a.clock / opusRate
	a.used++
	return nil
}

// flushPending writes the pending packet, now that the next one is at
// track time next, and fills the space between them with silence.
func (a *audioTrack) flushPending(next int64) error {
	if !a.have {
		return nil
	}
	if err := a.tab.add(a.pendT, true, a.pend); err != nil {
		return err
	}
	step := 20 * a.clock / 1000
	// A gap shorter than one silence frame is left to the previous
	// packet's duration; longer ones are filled.
	for t := a.pendT + a.pendD; next-t >= step; t += step {
		if err := a.tab.add(t, true, a.silence); err != nil {
			return err
		}
	}
	return nil
}

func (a *audioTrack) finish() error {
	if a.have {
		if err := a.flushPending(a.pendT + a.pendD); err != nil {
			return err
		}
	}
	return a.tab.finish(a.pendD)
}
