package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// ConvertFile converts the capture at src into an MP4 written at dst
// (created or truncated; the caller handles temp names and renames). On
// success dst is complete and synced. dst is only opened once the whole
// capture has been read; if writing it fails, it is removed, so an error
// never leaves a partial MP4 behind.
func ConvertFile(ctx context.Context, src, dst string, opts ...Option) (Result, error) {
	var res Result
	err := convertWith(ctx, src, dst, opts, func(c *converter, hdr storage.Header) error {
		tracks, err := c.mp4Tracks()
		if err != nil {
			return err
		}
		n, err := writeMP4(dst, c.sp, tracks, hdr.Start, c.brands(tracks))
		if err != nil {
			return err
		}
		c.res.Bytes = n
		return nil
	}, &res)
	return res, err
}

// convertWith reads the capture at src into a converter's tracks and
// hands them to write, which puts them in a container at dst; res gets
// the converter's result either way.
func convertWith(ctx context.Context, src, dst string, opts []Option, write func(*converter, storage.Header) error, res *Result) error {
	cfg := config{log: slog.New(slog.DiscardHandler), reorderWindow: defaultReorderWindow}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.log = cfg.log.With("component", "transcode", "capture", filepath.Base(src), "output", filepath.Ext(dst))
	if cfg.tempDir == "" {
		cfg.tempDir = filepath.Dir(dst)
	}
	r, err := storage.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	sp, err := newSpool(cfg.tempDir)
	if err != nil {
		return err
	}
	defer sp.close()

	c := newConverter(cfg, r.Header(), sp)
	defer func() { *res = c.res }()
	if err := c.read(ctx, r); err != nil {
		return err
	}
	if err := c.finish(); err != nil {
		return err
	}
	if err := write(c, r.Header()); err != nil {
		return err
	}
	cfg.log.Info("converted", "duration", c.res.MediaDuration, "bytes", c.res.Bytes, "packets", c.res.Packets,
		"dropped", c.res.Dropped, "torn", c.res.Torn)
	return nil
}

// maxStreams bounds the per-SSRC state a damaged or hostile capture can
// make the converter allocate.
const maxStreams = 64

// switchIdle is how long a track's SSRC must have been silent before an
// SSRC that fed the track earlier takes it back. A new SSRC takes over at
// once (the sender restarted); without the rule, two SSRCs sending at
// once (simulcast layers) would interleave into garbage.
const switchIdle = 500 * time.Millisecond

type mediaKind int

const (
	kindNone mediaKind = iota
	kindVideo
	kindAudio
)

type ssrcState struct {
	ssrc   uint32
	info   storage.StreamInfo
	kind   mediaKind
	seq    unwrapper
	ts     unwrapper
	rb     *rtpreorder.Buffer
	lastAt time.Duration
	fed    bool  // has fed its track before
	cvoID  uint8 // header extension ID of the camera orientation, or 0
}

type converter struct {
	cfg      config
	hdr      storage.Header
	sp       *spool
	declared map[uint32]storage.StreamInfo
	streams  map[uint32]*ssrcState
	video    *videoTrack // H.264
	frames   *frameTrack // VP8, VP9 or AV1
	audio    *audioTrack
	active   [3]*ssrcState // by mediaKind
	srs      map[uint32]senderReport
	// videoCodec is the codec of the video track, once its first stream
	// has fed it.
	videoCodec vcodec.Codec
	res        Result
	pkt        rtpPacket
}

func newConverter(cfg config, hdr storage.Header, sp *spool) *converter {
	c := &converter{cfg: cfg, hdr: hdr, sp: sp, declared: map[uint32]storage.StreamInfo{},
		streams: map[uint32]*ssrcState{}, srs: map[uint32]senderReport{}}
	for _, s := range hdr.Streams {
		c.declare(s)
	}
	return c
}

func (c *converter) declare(info storage.StreamInfo) {
	if len(c.declared) >= maxStreams {
		return
	}
	c.declared[info.SSRC] = info
	if st := c.streams[info.SSRC]; st != nil {
		st.info, st.kind, st.cvoID = info, kindOf(info), cvoID(info)
	}
}

// cvoID is the ID a video stream's packets carry the camera orientation
// under, or 0.
func cvoID(info storage.StreamInfo) uint8 {
	if info.Kind != storage.KindVideo {
		return 0
	}
	return info.ExtensionID(vcodec.CVOURI)
}

func kindOf(info storage.StreamInfo) mediaKind {
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
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// read is the single pass over the capture.
func (c *converter) read(ctx context.Context, r *storage.Reader) error {
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, storage.ErrTornRecord) {
			c.res.Torn = true
			c.cfg.log.Warn("capture is torn; converting the intact part", "error", err, "intact_bytes", r.Offset())
			return nil
		}
		if err != nil {
			return fmt.Errorf("read capture: %w", err)
		}
		switch rec.Kind {
		case storage.RecordRTP:
			if isRTCP(rec.Data) {
				c.rtcp(rec.Data)
				continue
			}
			c.res.Packets++
			if err := c.rtp(rec.At, rec.Data); err != nil {
				return err
			}
		case storage.RecordRTCP:
			c.rtcp(rec.Data)
		case storage.RecordStream:
			info, err := storage.DecodeStream(rec.Data)
			if err != nil {
				c.cfg.log.Warn("ignoring bad stream record", "error", err)
				continue
			}
			c.declare(info)
		}
	}
}

func (c *converter) rtcp(b []byte) {
	parseSenderReports(b, func(ssrc uint32, sr senderReport) {
		if _, ok := c.srs[ssrc]; !ok && len(c.srs) < maxStreams {
			c.srs[ssrc] = sr
		}
	})
}

func (c *converter) rtp(at time.Duration, b []byte) error {
	p := &c.pkt
	if err := parseRTP(b, p); err != nil {
		c.res.Dropped++
		return nil
	}
	st := c.stream(p.ssrc, p.pt)
	if st == nil || st.kind == kindNone || p.pt != st.info.PayloadType {
		c.res.Dropped++
		return nil
	}
	seq := st.seq.unwrap16(p.seq)
	ts := st.ts.unwrap32(p.ts)
	if st.kind == kindVideo && c.videoCodec != vcodec.Unknown && vcodec.FromName(st.info.Codec) != c.videoCodec {
		// One video track has one codec: a stream that continues it in
		// another would decode to garbage.
		c.res.Dropped++
		return nil
	}
	if active := c.active[st.kind]; active != st {
		if active != nil && st.fed && at-active.lastAt < switchIdle {
			c.res.Dropped++
			return nil
		}
		if active != nil {
			if err := active.rb.Flush(active.ssrc, c.sink(active.kind)); err != nil {
				return err
			}
			active.rb.Reset()
			c.cfg.log.Info("stream continues on a new ssrc", "kind", st.info.Kind, "old_ssrc", active.ssrc, "ssrc", st.ssrc)
		}
		c.active[st.kind] = st
		st.fed = true
	}
	st.lastAt = at
	var meta uint8
	if st.cvoID != 0 {
		if o, ok := vcodec.PacketOrientation(b, st.cvoID); ok {
			meta = cvoMeta | o.Byte()
		}
	}
	ok, err := st.rb.PushMeta(st.ssrc, seq, ts, at, p.marker, meta, p.payload, c.sink(st.kind))
	if !ok {
		c.res.Dropped++
	}
	return err
}

// stream finds or creates the state of an SSRC. An SSRC nobody declared
// is matched to a declared stream by payload type: the sender changed
// SSRC and the recorder did not write a stream record.
func (c *converter) stream(ssrc uint32, pt uint8) *ssrcState {
	if st := c.streams[ssrc]; st != nil {
		return st
	}
	if len(c.streams) >= maxStreams {
		return nil
	}
	info, ok := c.declared[ssrc]
	if !ok {
		for _, d := range c.declared {
			if d.PayloadType == pt && kindOf(d) != kindNone {
				info, ok = d, true
				info.SSRC = ssrc
				break
			}
		}
	}
	if !ok {
		return nil
	}
	st := &ssrcState{ssrc: ssrc, info: info, kind: kindOf(info), cvoID: cvoID(info),
		rb: rtpreorder.New(c.cfg.reorderWindow, reorderSlots)}
	c.streams[ssrc] = st
	return st
}

// sink returns the track of a kind, creating it from the first stream
// that feeds it.
func (c *converter) sink(k mediaKind) rtpreorder.Sink {
	switch k {
	case kindVideo:
		if c.videoCodec == vcodec.Unknown {
			info := c.active[kindVideo].info
			c.videoCodec = vcodec.FromName(info.Codec)
			// Video over RTP always uses a 90 kHz clock (RFC 6184, 7741,
			// 9628); a declared rate is honoured only if it is plausible.
			clock := info.ClockRate
			if clock < 1000 || clock > 1_000_000 {
				clock = vcodec.ClockRate
			}
			if c.videoCodec == vcodec.H264 {
				sps, pps := fmtpParameterSets(info.Fmtp)
				c.video = newVideoTrack(c.cfg.log, c.sp, clock, sps, pps)
			} else {
				c.frames = newFrameTrack(c.cfg.log, c.sp, c.videoCodec, clock)
			}
		}
		if c.frames != nil {
			return c.frames
		}
		return c.video
	default:
		if c.audio == nil {
			info := c.active[kindAudio].info
			ch := int(info.Channels)
			if ch != 1 {
				ch = 2
			}
			// Opus RTP timestamps always count 48 kHz (RFC 7587), whatever
			// the signalling says.
			c.audio = newAudioTrack(c.sp, opusRate, ch)
		}
		return c.audio
	}
}

// finish drains the reorder buffers and closes the tracks.
func (c *converter) finish() error {
	for k, st := range c.active {
		if st != nil {
			if err := st.rb.Flush(st.ssrc, c.sink(mediaKind(k))); err != nil {
				return err
			}
		}
	}
	if c.video != nil {
		if err := c.video.finish(); err != nil {
			return err
		}
		c.res.Dropped += c.video.droppd
	}
	if c.frames != nil {
		if err := c.frames.finish(); err != nil {
			return err
		}
		c.res.Dropped += c.frames.droppd
	}
	if c.audio != nil {
		if err := c.audio.finish(); err != nil {
			return err
		}
		c.res.Dropped += c.audio.droppd
	}
	return nil
}

// mp4Tracks places the tracks on one timeline and builds their sample
// entries.
func (c *converter) mp4Tracks() ([]mp4Track, error) {
	var tracks []mp4Track
	var clocks []trackClock
	if v := c.video; v != nil && v.tab.count() > 0 {
		avcC, err := mp4.CreateAvcC([][]byte{v.firstSPS}, [][]byte{v.firstPPS}, true)
		if err != nil {
			c.cfg.log.Warn("video dropped: unusable parameter sets", "error", err)
			c.res.Dropped += v.used
		} else {
			// avc3 says parameter sets may change in-band (they are in
			// every keyframe anyway); plain avc1 is the most compatible
			// when they never do.
			name := "avc1"
			if v.psChanged {
				name = "avc3"
			}
			entry := mp4.CreateVisualSampleEntryBox(name, uint16(v.width), uint16(v.height), avcC)
			tracks, clocks = c.videoTracks(tracks, clocks, v.tab, &v.tl, entry, vcodec.H264, v.width, v.height)
		}
	}
	if v := c.frames; v != nil && v.tab.count() > 0 {
		entry, err := v.entry()
		if err != nil {
			c.cfg.log.Warn("video dropped: no usable configuration", "codec", v.codec, "error", err)
			c.res.Dropped += v.used
		} else {
			tracks, clocks = c.videoTracks(tracks, clocks, v.tab, &v.tl, entry, v.codec, v.width, v.height)
		}
	}
	if a := c.audio; a != nil && a.tab.count() > 0 {
		dops := &mp4.DopsBox{OutputChannelCount: byte(a.channels), InputSampleRate: opusRate}
		entry := mp4.CreateAudioSampleEntryBox("Opus", uint16(a.channels), 16, opusRate, dops)
		tracks = append(tracks, mp4Track{handler: "audio", tab: a.tab, entry: entry})
		clocks = append(clocks, c.clockOf(&a.tl))
		c.res.Tracks = append(c.res.Tracks, TrackResult{Kind: storage.KindAudio, Codec: storage.CodecOpus,
			Samples: a.tab.count()})
	}
	if len(tracks) == 0 {
		return nil, ErrNoMedia
	}
	starts, usedSR := trackStarts(clocks)
	first := starts[0]
	for _, s := range starts {
		first = min(first, s)
	}
	for i := range tracks {
		tracks[i].delay = starts[i] - first + tracks[i].offset
		c.res.Tracks[i].Duration = tracks[i].mediaDuration()
		c.res.MediaDuration = max(c.res.MediaDuration, tracks[i].delay+tracks[i].mediaDuration())
		c.cfg.log.Debug("track placed", "kind", tracks[i].handler, "delay", tracks[i].delay,
			"duration", tracks[i].mediaDuration(), "sender_reports", usedSR)
	}
	return tracks, nil
}

func (c *converter) clockOf(tl *timeline) trackClock {
	tc := trackClock{arrival: tl.firstStart, firstExt: tl.firstExt, clock: tl.clock}
	if sr, ok := c.srs[tl.firstSSRC]; ok {
		tc.sr = &sr
	}
	return tc
}

// videoTracks adds a video track's MP4 tracks: one per orientation the
// sender signalled (see orientedTable), each with its display matrix and
// its place in the track.
func (c *converter) videoTracks(tracks []mp4Track, clocks []trackClock, tab *orientedTable, tl *timeline,
	entry mp4.Box, codec vcodec.Codec, w, h int) ([]mp4Track, []trackClock) {
	for i, r := range tab.runs {
		if r.tab.count() == 0 {
			continue
		}
		t := mp4Track{handler: "video", tab: r.tab, entry: entry, width: w, height: h,
			offset: ticksToDuration(r.start-tab.runs[0].start, tab.timescale), orientation: r.o}
		tracks = append(tracks, t)
		clocks = append(clocks, c.clockOf(tl))
		c.res.Tracks = append(c.res.Tracks, TrackResult{Kind: storage.KindVideo, Codec: codec.Name(),
			Samples: r.tab.count(), Width: w, Height: h, Rotation: r.o.Rotation, Flip: r.o.Flip})
		if i > 0 {
			c.cfg.log.Info("camera orientation changed: the video continues in another track",
				"rotation", r.o.Rotation, "flip", r.o.Flip, "at", t.offset)
		}
	}
	return tracks, clocks
}

func (c *converter) brands(tracks []mp4Track) []string {
	b := []string{"isom", "iso2", "mp41"}
	for _, t := range tracks {
		if t.handler != "video" {
			b = append(b, "Opus")
			continue
		}
		switch c.videoCodec {
		case vcodec.H264:
			b = append(b, "avc1")
		case vcodec.AV1:
			b = append(b, "av01")
		}
	}
	return b
}
