package hls

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pion/rtp"

	"github.com/ars-project/ars/internal/rtpreorder"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// DefaultSegmentDuration is the target length of a media segment.
const DefaultSegmentDuration = 4 * time.Second

// reorderWindow is how long, in arrival time, packets wait for a missing
// one: a retransmission or a reordered packet on a real network arrives
// within it, and a live segment is not held back noticeably.
const reorderWindow = 100 * time.Millisecond

// reorderSlots bounds the packets held per track (a power of two):
// 100 ms of video at WebRTC bitrates is well under it.
const reorderSlots = 256

// Container is the segment format a track writes.
type Container int

// The containers. The zero value is fMP4, so that a Config that names
// none keeps the format the package always wrote.
const (
	// ContainerFMP4: an init segment (Name_init.mp4) and fragmented-MP4
	// media segments (Name_<UTC>.m4s), any codec.
	ContainerFMP4 Container = iota
	// ContainerTS: MPEG-TS media segments (Name_<UTC>.ts), as Agora's
	// individual mode writes them, for H.264 video and Opus or AAC audio
	// (see Config.Transcode). VP8, VP9 and AV1 have no MPEG-TS mapping
	// players know, so such a track writes fMP4 instead (Track.Container
	// says which).
	ContainerTS
)

func (c Container) String() string {
	if c == ContainerTS {
		return "ts"
	}
	return "fmp4"
}

// FileKind says what a finished file is.
type FileKind int

// The files a track produces.
const (
	FileInit FileKind = iota + 1
	FileSegment
	FilePlaylist
	FileMP4
)

func (k FileKind) String() string {
	switch k {
	case FileInit:
		return "init"
	case FileSegment:
		return "segment"
	case FilePlaylist:
		return "playlist"
	case FileMP4:
		return "mp4"
	}
	return "unknown"
}

// File is one file the track finished writing. A playlist is reported
// every time it is rewritten.
type File struct {
	Kind FileKind
	Name string // base name inside Config.Dir
	Path string
	// Start is the wall-clock time of the file's first sample.
	Start    time.Time
	Duration time.Duration
}

// Config describes one track.
type Config struct {
	Dir string
	// Name is the base of every file name: the playlist is Name.m3u8, the
	// init segment Name_init.mp4, media segments Name_<UTC>.m4s.
	Name string
	Kind string // storage.KindAudio or storage.KindVideo
	// Codec is storage.CodecOpus for audio, and for video a codec
	// vcodec.FromName knows: H264, VP8, VP9 or AV1.
	Codec     string
	ClockRate uint32
	Channels  int
	// CVOID is the RTP header extension ID under which a video stream's
	// packets carry the camera orientation (vcodec.CVOURI, see
	// storage.StreamInfo.ExtensionID), or 0. With one, the init segment's
	// display matrix shows the picture as the sender says, and a change
	// starts a new segment at the next keyframe with a new init segment.
	CVOID uint8
	// SegmentDuration is the target segment length.
	SegmentDuration time.Duration
	// MP4 also writes the whole track as MP4 on Close: one file, or one
	// per init segment if the track has several (see writeMP4).
	MP4 bool
	// OnFile is called, on the caller's goroutine, after each file is
	// complete on disk.
	OnFile func(File)
	Log    *slog.Logger
	// Resume continues the playlist Name.m3u8 an earlier run left in Dir
	// (resume.go); without one the track starts as a new one.
	Resume bool
	// Container is the segment format; the zero value is fMP4. MP4 is
	// written only for fMP4 segments.
	Container Container
	// Transcode, for an Opus audio track in ContainerTS, makes the
	// segments AAC instead of Opus: each Opus packet in order (silence
	// frames fill holes, as they do in an Opus track) goes to Transcode
	// with its presentation time on the track's clock, and the encoded
	// AAC comes back through Track.SetAACConfig and Track.WriteAAC. It is
	// called on the goroutine that feeds the track, so it must not block
	// (hand the packet to a bounded queue); opus is valid only during the
	// call. See the package documentation for the whole exchange.
	Transcode func(pts time.Duration, opus []byte)
}

// Track turns one RTP stream into HLS. It is not safe for concurrent use:
// one goroutine feeds it.
type Track struct {
	cfg    Config
	log    *slog.Logger
	seg    *segmenter
	closed bool

	// Arrival side: packets of the SSRC being received go through rb.
	rb       *rtpreorder.Buffer
	inBound  bool
	inSSRC   uint32
	lastSeq  int64 // extended sequence number of the newest packet
	epoch    time.Time
	hasEpoch bool

	// Emission side: the SSRC whose ordered packets feed the track.
	bound   bool
	ssrc    uint32
	lastTS  uint32
	extTS   int64
	base    int64 // subtracted from extended timestamps
	lastDTS int64 // track time reached by the newest sample (its end)

	video *videoState
	audio *audioState
	// ts is the MPEG-TS muxer of a ContainerTS track, nil for fMP4.
	ts *tsState
	// aac is the state of an AAC track (Config.Transcode), nil otherwise.
	aac *aacState

	// Dropped counts packets that could not be used.
	dropped int
	// gaps counts failed writes.
	gaps int
}

// withDefaults fills in what cfg leaves out and checks its name.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = DefaultSegmentDuration
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, `/\`) {
		return cfg, fmt.Errorf("hls: bad track name %q", cfg.Name)
	}
	return cfg, nil
}

// NewTrack checks cfg and prepares a track; files appear with the media.
func NewTrack(cfg Config) (*Track, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Track{cfg: cfg, log: cfg.Log.With("component", "hls", "track", cfg.Name),
		rb: rtpreorder.New(reorderWindow, reorderSlots)}
	switch {
	case cfg.Kind == storage.KindVideo && vcodec.FromName(cfg.Codec) != vcodec.Unknown:
		if cfg.ClockRate == 0 {
			cfg.ClockRate = vcodec.ClockRate
		}
		t.video = newVideoState(vcodec.FromName(cfg.Codec))
	case cfg.Kind == storage.KindAudio && strings.EqualFold(cfg.Codec, storage.CodecOpus):
		// Opus RTP timestamps always count 48 kHz (RFC 7587).
		cfg.ClockRate = opusRate
		if cfg.Channels != 1 {
			cfg.Channels = 2
		}
		t.audio = &audioState{}
	default:
		return nil, fmt.Errorf("%w: %s %s", ErrCodec, cfg.Kind, cfg.Codec)
	}
	if cfg.Container == ContainerTS && t.video != nil && t.video.codec != vcodec.H264 {
		// Players know no MPEG-TS mapping of VP8, VP9 or AV1 (Agora
		// writes VP8 as WebM): the track stays playable as fMP4.
		t.log.Info("no MPEG-TS for this codec: fMP4 segments", "codec", cfg.Codec)
		cfg.Container = ContainerFMP4
	}
	if cfg.Transcode != nil {
		if t.audio == nil || cfg.Container != ContainerTS {
			return nil, fmt.Errorf("%w: Transcode needs Opus audio in MPEG-TS", ErrCodec)
		}
		t.aac = &aacState{}
	}
	if cfg.Container == ContainerTS {
		t.ts = &tsState{event: true}
	}
	t.cfg = cfg
	t.seg = newSegmenter(t)
	if cfg.Resume {
		if err := t.seg.load(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Container is the segment format the track writes: Config.Container,
// except for VP8, VP9 and AV1 video, which is always fMP4.
func (t *Track) Container() Container { return t.cfg.Container }

// Name is the track's base name.
func (t *Track) Name() string { return t.cfg.Name }

// Playlist is the playlist's file name.
func (t *Track) Playlist() string { return t.cfg.Name + ".m3u8" }

// Started reports whether a segment has been written.
func (t *Track) Started() bool { return len(t.seg.segs) > 0 }

// Start is the wall-clock time of the first sample (zero before one).
func (t *Track) Start() time.Time { return t.seg.origin }

// Duration is the length of the written segments.
func (t *Track) Duration() time.Duration { return t.seg.written }

// Dropped counts packets that could not be used.
func (t *Track) Dropped() int { return t.dropped }

// WriteRTP feeds one RTP packet that arrived at at. Packets wait up to
// reorderWindow for a missing one before it is given up. Packets that
// cannot be used (malformed, later than the window, duplicated,
// undecodable after a loss) are dropped; an error means a file could not
// be written.
//
// After an error the track is still usable: what was not written is
// dropped, and once writes succeed again (space came back on a full disk)
// the media resumes in a new segment, at the next keyframe for video,
// which the playlist lists after an EXT-X-DISCONTINUITY.
func (t *Track) WriteRTP(at time.Time, pkt []byte) error {
	err := t.writeRTP(at, pkt)
	if err != nil {
		t.fail()
	}
	return err
}

// fail forgets what a failed write left half done, so that the track
// starts over cleanly at the next usable sample.
func (t *Track) fail() {
	t.gaps++
	t.seg.cur = t.seg.cur[:0]
	t.seg.disc = true
	if v := t.video; v != nil {
		v.reset()
		// A new init segment that waited with the pending picture is
		// gone with it: the next keyframe decides again.
		v.hasInit, v.initO = t.seg.initDone, t.seg.initO
	}
	if a := t.audio; a != nil {
		// No silence across the gap: it is a hole in the recording, and
		// the next segment says so.
		a.have = false
	}
	if t.aac != nil {
		t.aac.have = false
	}
	if t.ts != nil {
		// The segment after the gap says the stream starts again.
		t.ts.event = true
	}
}

// Gaps counts the write failures the track went through.
func (t *Track) Gaps() int { return t.gaps }

func (t *Track) writeRTP(at time.Time, pkt []byte) error {
	if t.closed {
		return ErrClosed
	}
	var p rtp.Packet
	if err := p.Unmarshal(pkt); err != nil {
		t.dropped++
		return nil
	}
	if !t.hasEpoch {
		t.epoch, t.hasEpoch = at, true
	}
	if !t.inBound || p.SSRC != t.inSSRC {
		// A new sender: what the old one left buffered goes first.
		if t.inBound {
			if err := t.rb.Flush(t.inSSRC, t.sink()); err != nil {
				return err
			}
			t.rb.Reset()
		}
		t.inBound, t.inSSRC = true, p.SSRC
		t.lastSeq = int64(p.SequenceNumber)
	}
	t.lastSeq += int64(int16(p.SequenceNumber - uint16(t.lastSeq)))
	var meta uint8
	if t.video != nil && t.cfg.CVOID != 0 {
		// The orientation travels with its packet through the reorder
		// buffer: it takes effect in sequence order, not arrival order.
		if o, ok := vcodec.PacketOrientation(pkt, t.cfg.CVOID); ok {
			meta = cvoMeta | o.Byte()
		}
	}
	ok, err := t.rb.PushMeta(p.SSRC, t.lastSeq, int64(p.Timestamp), at.Sub(t.epoch), p.Marker, meta, p.Payload, t.sink())
	if !ok {
		// A duplicate, or later than the window: its place is gone.
		t.dropped++
	}
	return err
}

// sink is the track as the reorder buffer's sink.
func (t *Track) sink() rtpreorder.Sink { return (*trackSink)(t) }

// trackSink receives the packets in sequence order; a separate type keeps
// its method out of Track's API.
type trackSink Track

func (s *trackSink) Packet(ssrc uint32, p *rtpreorder.Packet, gap bool) error {
	return (*Track)(s).packet(ssrc, p, gap)
}

func (t *Track) packet(ssrc uint32, p *rtpreorder.Packet, gap bool) error {
	ts := uint32(p.TS)
	if !t.bound {
		t.resumeClock(t.epoch.Add(p.At))
	}
	if !t.bound || ssrc != t.ssrc {
		if err := t.rebind(ssrc, ts); err != nil {
			return err
		}
	}
	t.extTS += int64(int32(ts - t.lastTS))
	t.lastTS = ts
	dts := t.extTS - t.base
	if dts < 0 {
		// Older than the start of the track.
		t.dropped++
		return nil
	}
	at := t.epoch.Add(p.At)
	if t.video != nil {
		return t.videoPacket(at, dts, gap, p.Marker, p.Meta, p.Payload)
	}
	return t.audioPacket(at, dts, p.Payload)
}

// rebind starts following a new SSRC: a new sender continues the track
// where the previous one ended.
func (t *Track) rebind(ssrc, ts uint32) error {
	if t.bound && t.video != nil {
		if err := t.endVideoFrame(true); err != nil {
			return err
		}
		if err := t.flushVideo(); err != nil {
			return err
		}
		t.video.dep.Reset()
		t.video.needKey = true
	}
	t.bound, t.ssrc = true, ssrc
	t.lastTS, t.extTS = ts, int64(ts)
	t.base = t.extTS - t.lastDTS
	return nil
}

// Close ends the track: the last segment, the playlist with its end
// marker and, if asked, the MP4. It returns ErrNoMedia if nothing was
// ever usable.
func (t *Track) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	if t.inBound {
		// The stream's last packets were waiting for a possible gap.
		errs = append(errs, t.rb.Flush(t.inSSRC, t.sink()))
	}
	if t.video != nil {
		errs = append(errs, t.endVideoFrame(true), t.flushVideo())
	}
	errs = append(errs, t.seg.finish())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(t.seg.segs) == 0 {
		return ErrNoMedia
	}
	return nil
}

// DropSegment takes a media segment out of the playlist: its file never
// reached storage (see objstore.Lost), and a playlist naming it would stop
// players there. The segment after it is marked as following a gap. It
// reports whether the playlist listed the segment; the playlist on disk
// changes with the next write (or RewritePlaylist).
//
// For MPEG-TS, the segment after it was written with continuity
// counters running on from the dropped one: ffmpeg reports its first
// packet as corrupt (a warning, fatal only with -xerror). A gap the track
// itself saw (a failed write, a restart) is marked in the stream and
// plays clean.
func (t *Track) DropSegment(name string) bool {
	return t.seg.drop(name)
}

// RewritePlaylist writes the playlist again (with its end marker once the
// track is closed) and reports it through OnFile.
func (t *Track) RewritePlaylist() error {
	if len(t.seg.segs) == 0 {
		return nil
	}
	return t.seg.writePlaylist(t.closed)
}
