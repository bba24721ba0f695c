package aacproc

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ars-project/ars/internal/mixproto"
)

// aacFrame is the samples of one AAC-LC access unit.
const aacFrame = 1024

// priming is the encoder delay of libavcodec's AAC encoder
// (AVCodecContext.initial_padding): its output decodes to this many
// samples before the first input sample. Units are stamped that much
// earlier, so that the sound of input time t plays at PTS t (measured by
// TestPrimingAligned).
const priming = 1024

// plcMax is the longest hole concealed by the decoder (opusdec's PLC, a
// GAP event); a longer one is silence (audiorate). Concealment beyond
// a few frames only fades into noise.
const plcMax = 120_000_000

// appsrcMaxBytes bounds a stream's queue inside the transcoder; the
// encoder runs hundreds of times faster than real time, so it never
// fills unless a pipeline is stuck, and then the newest packets go.
const appsrcMaxBytes = 1 << 20

// stream is one Opus-in, AAC-out pipeline.
type stream struct {
	s    *Server
	id   uint32
	o    mixproto.AACOpen
	pipe *gst.Pipeline
	src  *app.Source
	sink *app.Sink
	bus  *gst.Bus
	done chan struct{}
	once sync.Once

	// Input side: the reader goroutine.
	mu      sync.Mutex
	started bool
	next    int64 // where the next packet is expected (stream clock)
	ended   bool
	dropped int64

	// origin is the PTS of the first packet: sample 0 of the encoder's
	// input. Set once, before the first push.
	origin atomic.Int64

	// Output side: GStreamer's streaming thread.
	units      int64
	configSent bool
}

func describe(o mixproto.AACOpen) string {
	coder := o.Coder
	if coder == "" {
		coder = mixproto.CoderTwoLoop
	}
	return fmt.Sprintf("appsrc name=src format=time is-live=false block=false max-bytes=%d leaky-type=upstream "+
		"caps=audio/x-opus,channel-mapping-family=0,channels=%d,rate=48000 ! "+
		"opusdec plc=true max-errors=-1 ! "+
		// tolerance 1 ms: timestamps a little off (a sender's clock
		// rounding) are taken as contiguous; beyond it samples are
		// inserted or cut so the stream stays on its input clock.
		"audiorate skip-to-first=true tolerance=1000000 ! audioconvert ! audioresample ! "+
		"audio/x-raw,rate=%d,channels=%d ! avenc_aac bitrate=%d aac-coder=%s ! "+
		"appsink name=sink sync=false caps=audio/mpeg,mpegversion=4,stream-format=raw",
		appsrcMaxBytes, o.InputChannels, o.Rate, o.Channels, o.BitrateKbps*1000, coder)
}

func newStream(s *Server, o mixproto.AACOpen) (*stream, error) {
	p, err := gst.NewPipelineFromString(describe(o))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	src, err := p.GetElementByName("src")
	if err != nil || src == nil {
		return nil, fmt.Errorf("%w: no appsrc", ErrPipeline)
	}
	sink, err := p.GetElementByName("sink")
	if err != nil || sink == nil {
		return nil, fmt.Errorf("%w: no appsink", ErrPipeline)
	}
	st := &stream{s: s, id: o.ID, o: o, pipe: p, src: app.SrcFromElement(src), sink: app.SinkFromElement(sink),
		bus: p.GetPipelineBus(), done: make(chan struct{})}
	st.sink.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: st.onSample, EOSFunc: st.onEOS})
	if err := p.SetState(gst.StatePlaying); err != nil {
		p.SetState(gst.StateNull)
		return nil, fmt.Errorf("%w: play: %v", ErrPipeline, err)
	}
	return st, nil
}

// packet hands one Opus packet to the decoder. Packets must come in PTS
// order: one behind where the stream already is (late, repeated) is
// dropped; a hole before it is concealed or left to audiorate's silence.
// No lock is held across GStreamer calls: the streaming thread's
// onSample must never wait for this one.
func (st *stream) packet(pts int64, data []byte) {
	n := opusSamples(data)
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return
	}
	if n == 0 {
		st.dropped++
		st.mu.Unlock()
		return
	}
	dur := int64(n) * 1e9 / 48000
	if !st.started {
		st.started, st.next = true, pts
		st.origin.Store(pts)
	}
	if pts < st.next-dur/2 {
		st.dropped++
		st.mu.Unlock()
		return
	}
	origin, gapAt, gap := st.origin.Load(), st.next, pts-st.next
	st.next = pts + dur
	st.mu.Unlock()
	if gap > dur/2 && gap <= plcMax {
		// Concealment of the hole's length: a GAP event (appsrc queues
		// it in order with the buffers) makes opusdec (plc=true)
		// synthesise it. Whatever it makes, audiorate fits the next
		// packet to its own time.
		st.src.SendEvent(gst.NewGapEvent(gst.ClockTime(gapAt-origin), gst.ClockTime(gap)))
	}
	buf := gst.NewBufferFromBytes(data)
	buf.SetPresentationTimestamp(gst.ClockTime(pts - origin))
	buf.SetDuration(gst.ClockTime(dur))
	st.src.PushBuffer(buf)
}

// silencePacket is a 20 ms Opus packet of silence (CELT, full band, one
// frame with no energy): what WebRTC senders send for a muted track.
var silencePacket = [...]byte{0xf8, 0xff, 0xfe}

// maxSilence bounds the silence one TypeAACSilence fills.
const maxSilence = 10_000_000_000

// silence fills the stream with silent packets up to upTo (its clock),
// in 20 ms steps, so that its units run on while no packets come. A
// stream without a packet yet has no clock to fill.
func (st *stream) silence(upTo int64) {
	const step = 20_000_000
	st.mu.Lock()
	if !st.started || st.ended {
		st.mu.Unlock()
		return
	}
	from := st.next
	upTo = min(upTo, from+maxSilence)
	st.mu.Unlock()
	for pts := from; pts+step <= upTo; pts += step {
		st.packet(pts, silencePacket[:])
	}
}

// end asks for the flush: the encoder's last units, then Closed.
func (st *stream) end() {
	st.mu.Lock()
	was := st.ended
	st.ended = true
	st.mu.Unlock()
	if !was {
		st.src.EndStream()
	}
}

// sampleTime is the stream-clock time of encoder input sample k.
func (st *stream) sampleTime(k int64) int64 {
	return st.origin.Load() + k*1e9/int64(st.o.Rate)
}

func (st *stream) onSample(sink *app.Sink) gst.FlowReturn {
	sample := sink.PullSample()
	if sample == nil {
		return gst.FlowEOS
	}
	buf := sample.GetBuffer()
	if buf == nil {
		return gst.FlowOK
	}
	data := buf.Bytes()
	if len(data) == 0 || len(data) > mixproto.MaxAACUnit {
		return gst.FlowOK
	}
	if !st.configSent {
		st.configSent = true
		asc := codecData(sample.GetCaps().String())
		if len(asc) < 2 {
			asc = lcConfig(st.o.Rate, st.o.Channels)
		}
		st.s.out.json(mixproto.TypeAACConfig, mixproto.AACConfig{ID: st.id, Rate: st.o.Rate, Channels: st.o.Channels, ASC: asc}, true)
	}
	k := st.units*aacFrame - priming
	pts, end := st.sampleTime(k), st.sampleTime(k+aacFrame)
	st.s.out.unit(mixproto.AACUnit{ID: st.id, PTS: pts, Duration: end - pts, Data: data})
	st.units++
	st.s.countUnit()
	return gst.FlowOK
}

func (st *stream) onEOS(*app.Sink) {
	st.mu.Lock()
	dropped := st.dropped
	st.mu.Unlock()
	// Out of the map before the daemon hears Closed: it may open the
	// same id again at once.
	st.s.forget(st)
	st.s.out.json(mixproto.TypeAACClosed, mixproto.AACClosed{ID: st.id, Units: st.units, Dropped: dropped}, true)
	st.finish()
}

// finish hands the stream to the watcher, once.
func (st *stream) finish() {
	st.once.Do(func() {
		st.mu.Lock()
		st.ended = true
		st.mu.Unlock()
		close(st.done)
		st.s.finished(st)
	})
}

// pollBus reports a pipeline error as the stream's end (watcher only).
func (st *stream) pollBus() {
	for {
		msg := st.bus.Pop()
		if msg == nil {
			return
		}
		if msg.Type() == gst.MessageError {
			gerr := msg.ParseError()
			st.s.log.Error("stream failed", "stream", st.id, "error", gerr.Error(), "debug", gerr.DebugString())
			st.s.forget(st)
			st.s.out.json(mixproto.TypeAACError, mixproto.AACError{ID: st.id, Message: gerr.Error()}, true)
			st.finish()
			return
		}
	}
}

var codecDataRe = regexp.MustCompile(`codec_data=\(buffer\)([0-9a-fA-F]+)`)

// codecData is the codec_data of caps in their string form: the
// AudioSpecificConfig avenc_aac puts there.
func codecData(caps string) []byte {
	m := codecDataRe.FindStringSubmatch(caps)
	if m == nil {
		return nil
	}
	b, err := hex.DecodeString(m[1])
	if err != nil || len(b) > mixproto.MaxASC {
		return nil
	}
	return b
}

// lcConfig is the two-byte AudioSpecificConfig of AAC-LC at rate and
// channels (ISO 14496-3 1.6.2.1): object type 2, the sampling frequency
// index, the channel configuration.
func lcConfig(rate, channels int) []byte {
	idx := 3
	for i, r := range []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000} {
		if r == rate {
			idx = i
		}
	}
	v := 2<<11 | idx<<7 | channels<<3
	return []byte{byte(v >> 8), byte(v)}
}
