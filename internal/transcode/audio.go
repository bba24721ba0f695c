package transcode

// opusSilence is a 20 ms Opus packet that decodes to silence (CELT,
// fullband, code 0), the frame Janus inserts for gaps. One for mono and
// one for stereo TOC.
var (
	opusSilenceMono   = []byte{0xf8, 0xff, 0xfe}
	opusSilenceStereo = []byte{0xfc, 0xff, 0xfe}
)

const opusRate = 48000

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
		silence: opusSilenceStereo}
	if channels == 1 {
		a.silence = opusSilenceMono
	}
	return a
}

func (a *audioTrack) packet(ssrc uint32, p *bufferedPacket, _ bool) error {
	if len(p.payload) == 0 {
		return nil
	}
	samples := opusSamples(p.payload)
	if samples == 0 {
		a.droppd++
		return nil
	}
	t, ok := a.tl.place(ssrc, p.ts, p.at)
	if !ok {
		a.droppd++
		return nil
	}
	if err := a.flushPending(t); err != nil {
		return err
	}
	a.have = true
	a.pend = append(a.pend[:0], p.payload...)
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

// opusSamples returns how many 48 kHz samples an Opus packet decodes to
// (RFC 6716 section 3.1), or 0 if the packet is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := int(toc >> 3)
	var frame int // in 1/400 s (2.5 ms) units
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{4, 8, 16, 24}[config&3]
	case config < 16: // Hybrid: 10, 20 ms
		frame = [2]int{4, 8}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
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
	// At most 120 ms per packet.
	if count == 0 || frame*count > 48 {
		return 0
	}
	return frame * count * opusRate / 400
}
