package testmedia

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpcollect"
	"github.com/ars-project/ars/internal/vcodec"
)

// Fixed stream identities, so captures built in tests are reproducible.
const (
	VideoSSRC        uint32 = 0x1000_0001
	AudioSSRC        uint32 = 0x2000_0002
	VideoPayloadType uint8  = 96
	AudioPayloadType uint8  = 111
	videoFirstSeq           = 1000
	audioFirstSeq           = 20000
	videoFirstTS     uint32 = 0x0100_0000
	audioFirstTS     uint32 = 0x0200_0000
	// packetSpacing separates the packets of one video frame in arrival
	// time, as a pacer would.
	packetSpacing = 30 * time.Microsecond
	rtpPacketSize = 1200
)

// RequireFFmpeg skips the test when ffmpeg or ffprobe is not installed.
// It is the only reason a media test may skip.
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH (apt-get install ffmpeg)", tool)
		}
	}
}

// Packet is one RTP packet and the time it arrived, relative to the
// capture start.
type Packet struct {
	Data []byte
	At   time.Duration
}

// Stream is one RTP stream: how it is described in a capture header and
// its packets in sending order.
type Stream struct {
	Info    storage.StreamInfo
	Packets []Packet
}

// Options choose what Generate encodes. Zero values get defaults.
type Options struct {
	Duration      time.Duration // default 4s
	Width, Height int           // default 320x240
	FPS           int           // default 25
	GOP           int           // keyframe interval in frames; default 2 s worth
	Audio, Video  bool          // at least one; both false means both
	// ZeroLatency encodes with -tune zerolatency, which on this machine
	// splits every frame into two slices.
	ZeroLatency bool
	// VideoBitrate in kbit/s; default 600.
	VideoBitrate int
	// Color makes the video one solid colour (an ffmpeg colour such as
	// "red" or "0x2040c0") instead of the moving test pattern: composite
	// tests find each participant by its colour.
	Color string
	// Quadrants makes the video four solid colours (ffmpeg colours:
	// top-left, top-right, bottom-left, bottom-right), each a quarter of
	// the picture, instead of the test pattern or Color: a composite test
	// tells by pixels whether a picture is shown upright, turned or
	// mirrored. Width and Height should be even.
	Quadrants [4]string
	// ToneHz is the sine tone's frequency; default 440.
	ToneHz int
	// Codec is the video codec: "" or H264 (libx264), VP8 (libvpx), VP9
	// (libvpx-vp9) or AV1 (libaom-av1). ffmpeg packetizes H.264, VP8
	// and VP9 itself; Debian's ffmpeg 5.1 has no AV1 RTP packetizer, so
	// AV1 is encoded to IVF and packetized by pion's AV1Payloader.
	Codec string
	// Transpose applies ffmpeg's transpose filter to the picture before
	// encoding (1: 90 degrees clockwise, 2: counter-clockwise, 3:
	// clockwise then flipped upside down), as a phone camera's sensor sees
	// a picture held sideways.
	Transpose int
	// Rotate180 turns the picture upside down before encoding.
	Rotate180 bool
}

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = 4 * time.Second
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 320, 240
	}
	if o.FPS <= 0 {
		o.FPS = 25
	}
	if o.GOP <= 0 {
		o.GOP = 2 * o.FPS
	}
	if !o.Audio && !o.Video {
		o.Audio, o.Video = true, true
	}
	if o.VideoBitrate <= 0 {
		o.VideoBitrate = 600
	}
	if o.ToneHz <= 0 {
		o.ToneHz = 440
	}
	return o
}

// generated caches encodes per Options for the life of the test binary:
// several tests share the same clean media and encoding is the slow part.
// This is test support, so a process-wide cache is acceptable here.
var generated = struct {
	sync.Mutex
	m map[Options][]Stream
}{m: map[Options][]Stream{}}

// Generate encodes test media with ffmpeg and returns its RTP streams:
// video first (if any), then audio. Packets carry arrival times derived
// from their RTP timestamps, so both streams start at 0 and are in sync.
// Callers get their own copy and may modify it.
func Generate(t testing.TB, o Options) []Stream {
	t.Helper()
	RequireFFmpeg(t)
	o = o.withDefaults()
	generated.Lock()
	defer generated.Unlock()
	if s, ok := generated.m[o]; ok {
		return cloneStreams(s)
	}
	var (
		streams []Stream
		err     error
	)
	// A loopback socket can still overflow on a loaded machine; one retry
	// makes a flaky drop unlikely to fail a test for the wrong reason.
	for attempt := 0; attempt < 2; attempt++ {
		streams, err = encode(o)
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("testmedia: %v", err)
	}
	generated.m[o] = streams
	return cloneStreams(streams)
}

func cloneStreams(in []Stream) []Stream {
	out := make([]Stream, len(in))
	for i, s := range in {
		out[i] = s.Clone()
	}
	return out
}

// Clone returns a deep copy of s.
func (s Stream) Clone() Stream {
	c := Stream{Info: s.Info, Packets: make([]Packet, len(s.Packets))}
	for i, p := range s.Packets {
		c.Packets[i] = Packet{Data: bytes.Clone(p.Data), At: p.At}
	}
	return c
}

// Encode is Generate outside a test (test/systemd/sdsend writes the media
// it sends into a container): one encode, no cache, no retry. ffmpeg must
// be on PATH.
func Encode(o Options) ([]Stream, error) { return encode(o.withDefaults()) }

func encode(o Options) ([]Stream, error) {
	secs := fmt.Sprintf("%.3f", o.Duration.Seconds())
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	var vr, ar *udpcollect.Collector
	var err error
	if o.Video {
		src := fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS)
		if o.Color != "" {
			src = fmt.Sprintf("color=c=%s:size=%dx%d:rate=%d", o.Color, o.Width, o.Height, o.FPS)
		}
		if o.Quadrants[0] != "" {
			var b strings.Builder
			for i, c := range o.Quadrants {
				fmt.Fprintf(&b, "color=c=%s:size=%dx%d:rate=%d[q%d];", c, o.Width/2, o.Height/2, o.FPS, i)
			}
			b.WriteString("[q0][q1]hstack[top];[q2][q3]hstack[bottom];[top][bottom]vstack")
			src = b.String()
		}
		if o.Transpose != 0 {
			src += fmt.Sprintf(",transpose=%d", o.Transpose)
		}
		if o.Rotate180 {
			src += ",hflip,vflip"
		}
		args = append(args, "-t", secs, "-f", "lavfi", "-i", src)
	}
	if o.Audio {
		args = append(args, "-t", secs, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", o.ToneHz))
	}
	in := 0
	codec := vcodec.FromName(o.Codec)
	if o.Codec == "" {
		codec = vcodec.H264
	}
	var ivf string
	if o.Video && codec == vcodec.AV1 {
		dir, err := os.MkdirTemp("", "testmedia-av1-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		ivf = filepath.Join(dir, "video.ivf")
		args = append(args, "-map", fmt.Sprintf("%d:v", in))
		args = append(args, VideoCodecArgs(o, codec)...)
		args = append(args, "-f", "ivf", ivf)
		in++
	} else if o.Video {
		if vr, err = udpcollect.Listen(); err != nil {
			return nil, err
		}
		defer vr.Close()
		args = append(args, "-map", fmt.Sprintf("%d:v", in))
		args = append(args, VideoCodecArgs(o, codec)...)
		if o.ZeroLatency {
			args = append(args, "-tune", "zerolatency")
		}
		args = append(args, "-f", "rtp", "-payload_type", fmt.Sprint(VideoPayloadType), "-ssrc", fmt.Sprint(VideoSSRC),
			"-seq", fmt.Sprint(videoFirstSeq), "-rtpflags", "skip_rtcp",
			fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=%d", vr.Port(), rtpPacketSize))
		in++
	}
	if o.Audio {
		if ar, err = udpcollect.Listen(); err != nil {
			return nil, err
		}
		defer ar.Close()
		args = append(args, "-map", fmt.Sprintf("%d:a", in), "-c:a", "libopus", "-ac", "2", "-ar", "48000",
			"-b:a", "64k", "-f", "rtp", "-payload_type", fmt.Sprint(AudioPayloadType), "-ssrc", fmt.Sprint(AudioSSRC),
			"-seq", fmt.Sprint(audioFirstSeq), "-rtpflags", "skip_rtcp",
			fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=%d", ar.Port(), rtpPacketSize))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg %v: %w\n%s", args, err, out)
	}
	var streams []Stream
	if ivf != "" {
		s, err := packetizeAV1(ivf)
		if err != nil {
			return nil, err
		}
		streams = append(streams, s)
	}
	if vr != nil {
		pkts, rerr := vr.Stop()
		info := storage.StreamInfo{SSRC: VideoSSRC, PayloadType: VideoPayloadType, Kind: storage.KindVideo,
			Codec: codec.Name(), ClockRate: vcodec.ClockRate}
		if codec == vcodec.H264 {
			info.Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		s, err := finish(pkts, rerr, info, videoFirstSeq, videoFirstTS)
		if err != nil {
			return nil, err
		}
		streams = append(streams, s)
	}
	if ar != nil {
		pkts, rerr := ar.Stop()
		s, err := finish(pkts, rerr, storage.StreamInfo{SSRC: AudioSSRC, PayloadType: AudioPayloadType, Kind: storage.KindAudio,
			Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"},
			audioFirstSeq, audioFirstTS)
		if err != nil {
			return nil, err
		}
		streams = append(streams, s)
	}
	return streams, nil
}

// finish checks the received packets for gaps and rebases their
// timestamps to fixed values (ffmpeg picks a random base), then derives
// arrival times from the timestamps.
func finish(pkts [][]byte, rerr error, info storage.StreamInfo, firstSeq uint16, firstTS uint32) (Stream, error) {
	if rerr != nil {
		return Stream{}, fmt.Errorf("receive %s: %w", info.Kind, rerr)
	}
	if len(pkts) == 0 {
		return Stream{}, fmt.Errorf("no %s packets received", info.Kind)
	}
	// UDP on loopback keeps order, but sort anyway so a gap check is exact.
	sort.SliceStable(pkts, func(i, j int) bool {
		return uint16(binary.BigEndian.Uint16(pkts[i][2:])-firstSeq) < uint16(binary.BigEndian.Uint16(pkts[j][2:])-firstSeq)
	})
	base := binary.BigEndian.Uint32(pkts[0][4:])
	s := Stream{Info: info, Packets: make([]Packet, 0, len(pkts))}
	var lastTS uint32
	inFrame := 0
	for i, p := range pkts {
		if len(p) < 12 {
			return Stream{}, fmt.Errorf("%s packet %d: %d bytes", info.Kind, i, len(p))
		}
		if seq := binary.BigEndian.Uint16(p[2:]); seq != firstSeq+uint16(i) {
			return Stream{}, fmt.Errorf("%s: packet %d has seq %d, want %d: the kernel dropped packets", info.Kind, i, seq, firstSeq+uint16(i))
		}
		ts := binary.BigEndian.Uint32(p[4:]) - base
		binary.BigEndian.PutUint32(p[4:], ts+firstTS)
		if i > 0 && ts == lastTS {
			inFrame++
		} else {
			inFrame = 0
		}
		lastTS = ts
		at := time.Duration(int64(ts)*int64(time.Second)/int64(info.ClockRate)) + time.Duration(inFrame)*packetSpacing
		s.Packets = append(s.Packets, Packet{Data: p, At: at})
	}
	return s, nil
}

// VideoCodecArgs are ffmpeg's encoder options for codec: a fixed GOP, no
// B-frames or hidden alt-ref frames (a real-time sender's settings). The
// end-to-end tests' live ffmpeg senders use them too.
func VideoCodecArgs(o Options, codec vcodec.Codec) []string {
	o = o.withDefaults()
	gop := []string{"-g", fmt.Sprint(o.GOP), "-keyint_min", fmt.Sprint(o.GOP), "-b:v", fmt.Sprintf("%dk", o.VideoBitrate),
		"-pix_fmt", "yuv420p"}
	switch codec {
	case vcodec.VP8:
		return append([]string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0",
			"-auto-alt-ref", "0"}, gop...)
	case vcodec.VP9:
		// ffmpeg's VP9 RTP packetizer is marked experimental.
		return append([]string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0",
			"-auto-alt-ref", "0", "-row-mt", "1", "-strict", "experimental"}, gop...)
	case vcodec.AV1:
		return append([]string{"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0",
			"-row-mt", "1"}, gop...)
	}
	return append([]string{"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-sc_threshold", "0",
		"-bf", "0"}, gop...)
}
