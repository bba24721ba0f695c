package mixfeed

import (
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
	"github.com/ars-project/ars/internal/transcode/opus"
	"github.com/ars-project/ars/internal/vcodec"
)

// Reordering: a live composite waits a little for a late packet (the
// mixer's own latency covers it); the offline feed can wait longer.
const (
	liveReorderWindow    = 60 * time.Millisecond
	offlineReorderWindow = 200 * time.Millisecond
	reorderSlots         = 256
	// maxStreams bounds the SSRCs one participant can make the feed track.
	maxStreams = 16
	// switchIdle: another SSRC takes a kind over only once the active one
	// has been silent this long (or it never fed before: a new sender).
	switchIdle = 500 * time.Millisecond
)

type kind int

const (
	kindNone kind = iota
	kindVideo
	kindAudio
)

func kindOf(info storage.StreamInfo) kind {
	switch {
	case info.Kind == storage.KindVideo && vcodec.FromName(info.Codec) != vcodec.Unknown:
		return kindVideo
	case info.Kind == storage.KindAudio && equalFold(info.Codec, storage.CodecOpus):
		return kindAudio
	}
	return kindNone
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i]|0x20 != b[i]|0x20 {
			return false
		}
	}
	return true
}

// cvoMeta marks a packet's rtpreorder meta byte as carrying the camera
// orientation (a CVO byte) in its low bits; 0 means the packet had none.
const cvoMeta = 0x80

// emitter receives a participant's finished units. data is valid only
// during the call.
type emitter interface {
	video(pts int64, v mixproto.VideoMeta, data []byte)
	audio(pts int64, data []byte)
	keyframeNeeded()
}

// feed is one participant's media: it is not safe for concurrent use
// (Live serialises calls per participant).
type feed struct {
	out      emitter
	window   time.Duration
	declared []storage.StreamInfo
	streams  []*rtpStream
	active   [3]*rtpStream
	clock    avClock
	clocks   [3]streamClock
	video    videoAssembler // H.264
	frames   frameAssembler // VP8, VP9, AV1
	// orient is the active video stream's camera orientation: the last
	// one its packets signalled (senders put it on some packets only).
	orient vcodec.Orientation
	pkt    transcode.RTPHeader
	// unknown lists SSRCs looked up in vain, so the participant's
	// declarations are not fetched again for each of their packets.
	unknown []uint32
	// dropped counts packets and units that could not be used.
	dropped int
	units   [3]int
}

func newFeed(out emitter, window time.Duration, declared []storage.StreamInfo) *feed {
	f := &feed{out: out, window: window}
	f.clocks[kindVideo].rate = 90000
	f.clocks[kindAudio].rate = opus.Rate
	f.video.needIDR = true
	for _, d := range declared {
		f.declare(d)
	}
	return f
}

func (f *feed) declare(info storage.StreamInfo) {
	for i, d := range f.declared {
		if d.SSRC == info.SSRC {
			f.declared[i] = info
			return
		}
	}
	if len(f.declared) < maxStreams {
		f.declared = append(f.declared, info)
	}
}

// rtpStream is one SSRC of the participant.
type rtpStream struct {
	f      *feed
	ssrc   uint32
	pt     uint8
	kind   kind
	codec  vcodec.Codec // of a video stream
	cvoID  uint8        // header extension ID of its camera orientation, or 0
	seq    int64
	ts     int64
	seen   bool
	rb     *rtpreorder.Buffer
	lastAt time.Duration
	fed    bool
}

// Packet receives the SSRC's packets in sequence order from its reorder
// buffer.
func (s *rtpStream) Packet(ssrc uint32, p *rtpreorder.Packet, gap bool) error {
	f := s.f
	switch s.kind {
	case kindVideo:
		if s.codec == vcodec.H264 {
			f.video.packet(f, p, gap)
		} else {
			f.frames.packet(f, p, gap)
		}
	case kindAudio:
		f.audioPacket(p)
	}
	return nil
}

// stream finds the state of an SSRC, matching an undeclared one to a
// declared stream by payload type (a sender that changed SSRC).
func (f *feed) stream(ssrc uint32, pt uint8) *rtpStream {
	for _, s := range f.streams {
		if s.ssrc == ssrc {
			return s
		}
	}
	if len(f.streams) >= maxStreams {
		return nil
	}
	var info storage.StreamInfo
	ok := false
	for _, d := range f.declared {
		if d.SSRC == ssrc {
			info, ok = d, true
			break
		}
	}
	if !ok {
		for _, d := range f.declared {
			if d.PayloadType == pt && kindOf(d) != kindNone {
				info, ok = d, true
				break
			}
		}
	}
	if !ok {
		return nil
	}
	s := &rtpStream{f: f, ssrc: ssrc, pt: info.PayloadType, kind: kindOf(info), rb: rtpreorder.New(f.window, reorderSlots)}
	if s.kind == kindVideo {
		s.codec, s.cvoID = vcodec.FromName(info.Codec), info.ExtensionID(vcodec.CVOURI)
		if info.ClockRate >= 1000 && info.ClockRate <= 1_000_000 {
			f.clocks[kindVideo].rate = int64(info.ClockRate)
		}
	}
	f.streams = append(f.streams, s)
	return s
}

// rtp takes one RTP packet that arrived at at (since the origin). It
// reports whether the packet was usable.
func (f *feed) rtp(at time.Duration, b []byte) bool {
	if transcode.IsRTCP(b) {
		f.rtcp(b)
		return true
	}
	p := &f.pkt
	if err := transcode.ParseRTP(b, p); err != nil {
		f.dropped++
		return false
	}
	s := f.stream(p.SSRC, p.PT)
	if s == nil || s.kind == kindNone || p.PT != s.pt {
		f.dropped++
		return false
	}
	if !s.seen {
		s.seen, s.seq, s.ts = true, int64(p.Seq), int64(p.TS)
	} else {
		s.seq += int64(int16(p.Seq - uint16(s.seq)))
		s.ts += int64(int32(p.TS - uint32(s.ts)))
	}
	if a := f.active[s.kind]; a != s {
		if a != nil && s.fed && at-a.lastAt < switchIdle {
			f.dropped++
			return false
		}
		if a != nil {
			_ = a.rb.Flush(a.ssrc, a)
			// A fresh buffer (its slots allocated on first use): a sender
			// cycling through SSRCs holds the slots of two streams, not of
			// every SSRC it tried.
			a.rb = rtpreorder.New(f.window, reorderSlots)
			if s.kind == kindVideo {
				f.video.switchSource(f)
				f.frames.switchSource(f)
			}
		}
		f.active[s.kind] = s
		s.fed = true
		if s.kind == kindVideo {
			// A new stream (a new encoder, maybe another codec) starts
			// upright until its packets say otherwise.
			f.frames.use(s.codec)
			f.orient = vcodec.Orientation{}
		}
	}
	s.lastAt = at
	var meta uint8
	if s.cvoID != 0 {
		if o, ok := vcodec.PacketOrientation(b, s.cvoID); ok {
			meta = cvoMeta | o.Byte()
		}
	}
	ok, _ := s.rb.PushMeta(s.ssrc, s.seq, s.ts, at, p.Marker, meta, p.Payload, s)
	if !ok {
		f.dropped++
	}
	return ok
}

// rtcp keeps the sender reports of the participant's active streams.
func (f *feed) rtcp(b []byte) {
	transcode.ParseSenderReports(b, f.report)
}

func (f *feed) report(ssrc uint32, sr transcode.SenderReport) {
	for _, k := range [...]kind{kindVideo, kindAudio} {
		if a := f.active[k]; a != nil && a.ssrc == ssrc {
			f.clock.report(&f.clocks[k], sr)
			return
		}
	}
	// A report may come before the stream's first packet.
	for _, d := range f.declared {
		if d.SSRC == ssrc {
			if k := kindOf(d); k != kindNone && f.active[k] == nil {
				f.clock.report(&f.clocks[k], sr)
			}
			return
		}
	}
}

// flush emits what the reorder buffers and the open picture still hold.
func (f *feed) flush() {
	for _, k := range [...]kind{kindVideo, kindAudio} {
		if a := f.active[k]; a != nil {
			_ = a.rb.Flush(a.ssrc, a)
		}
	}
	f.video.end(f, true)
	f.frames.end(f, true)
}

// noteOrientation takes the camera orientation a video packet carries
// (its rtpreorder meta byte), if any: the assemblers call it for each
// packet of a unit, after ending the previous unit, so a unit is shown
// as the last of its own packets says.
func (f *feed) noteOrientation(meta uint8) {
	if meta&cvoMeta != 0 {
		f.orient = vcodec.ParseCVO(meta &^ cvoMeta)
	}
}

func (f *feed) place(k kind, ts int64, at time.Duration) int64 {
	other := kindAudio
	if k == kindAudio {
		other = kindVideo
	}
	var oc *streamClock
	if f.active[other] != nil {
		oc = &f.clocks[other]
	}
	return f.clock.place(&f.clocks[k], oc, ts, at)
}

func (f *feed) audioPacket(p *rtpreorder.Packet) {
	if opus.PacketSamples(p.Payload) == 0 {
		f.dropped++
		return
	}
	pts := f.place(kindAudio, p.TS, p.At)
	f.units[kindAudio]++
	f.out.audio(pts, p.Payload)
}

// isNewSSRC reports whether an RTP packet's SSRC is one the feed does not
// know at all.
func (f *feed) isNewSSRC(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	for _, s := range f.streams {
		if s.ssrc == ssrc {
			return false
		}
	}
	for _, d := range f.declared {
		if d.SSRC == ssrc {
			return false
		}
	}
	for _, u := range f.unknown {
		if u == ssrc {
			return false
		}
	}
	if len(f.unknown) >= maxStreams {
		return false
	}
	f.unknown = append(f.unknown, ssrc)
	return true
}

func (f *feed) declareAll(infos []storage.StreamInfo) {
	for _, d := range infos {
		f.declare(d)
	}
}
