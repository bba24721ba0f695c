package mixfeed

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

// checker is an emitter that checks every unit the feed hands on.
type checker struct {
	t     *testing.T
	codec vcodec.Codec // of the video stream; 0 is H.264
	last  [3]int64
	units int
}

func (c *checker) video(pts int64, v mixproto.VideoMeta, b []byte) {
	c.units++
	key := v.Key
	want := c.codec
	if want == vcodec.Unknown {
		want = vcodec.H264
	}
	if v.Codec != want {
		c.t.Fatalf("a %v unit from a %v stream", v.Codec, want)
	}
	if want != vcodec.H264 {
		if len(b) == 0 || len(b) > vcodec.MaxFrameSize {
			c.t.Fatalf("%v unit of %d bytes", want, len(b))
		}
		c.order(kindVideo, pts)
		return
	}
	if !bytes.HasPrefix(b, startCode[:]) {
		c.t.Fatalf("video unit without a start code: % x", b[:min(8, len(b))])
	}
	types := nalTypes(b)
	if key && (len(types) < 3 || types[0] != 7 || types[1] != 8) {
		c.t.Fatalf("keyframe NAL types %v", types)
	}
	c.order(kindVideo, pts)
}

func (c *checker) audio(pts int64, b []byte) {
	c.units++
	if len(b) == 0 {
		c.t.Fatal("empty audio unit")
	}
	c.order(kindAudio, pts)
}

func (c *checker) order(k kind, pts int64) {
	if c.last[k] != 0 && pts <= c.last[k] {
		c.t.Fatalf("pts %d not after %d", pts, c.last[k])
	}
	c.last[k] = pts
}

func (c *checker) keyframeNeeded() {}

// FuzzFeed feeds arbitrary RTP payloads (and sequence, timestamp and
// arrival steps) to a participant's feed, as a hostile sender could: the
// feed must not panic, and every unit it hands on must be well formed,
// its PTS rising.
//
// The input is a list of packets: flags byte (bit 0 audio, bit 1 marker,
// bits 2-3 sequence step, bits 4-7 timestamp step in frames), u16 payload
// length, payload. A payload may also be a whole RTCP packet (flags bit 0
// set and payload type 200).
func FuzzFeed(f *testing.F) {
	f.Add([]byte{0x12, 0, 3, 0x65, 0x88, 0x80})
	f.Add([]byte{0x02, 0, 5, 0x18, 0, 1, 0x67, 0x42, 0x12, 0, 2, 0x7c, 0x85})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &checker{t: t}
		fd := newFeed(c, liveReorderWindow, []storage.StreamInfo{
			{SSRC: 1, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000},
			{SSRC: 2, PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
		})
		feedFuzz(fd, in)
		fd.flush()
	})
}

// FuzzFeedFrames is FuzzFeed with a VP8, VP9 or AV1 video stream (which
// one: codec modulo 3), whose packets carry a camera orientation
// extension: the frame path must not panic either, every unit it hands
// on is of the stream's codec, not empty and not above
// vcodec.MaxFrameSize, its PTS rising.
func FuzzFeedFrames(f *testing.F) {
	// Each video payload starts with a one-byte-form extension block
	// holding CVO (ID 3, 90 degrees).
	ext := []byte{0xbe, 0xde, 0x00, 0x01, 0x30, 0x01, 0x00, 0x00}
	pkt := func(flags byte, payload ...byte) []byte {
		b := append([]byte{flags, 0, byte(len(ext) + len(payload))}, ext...)
		return append(b, payload...)
	}
	// A VP8 key frame start (S, PID 0, frame tag, start code, 16x16).
	f.Add(uint8(0), pkt(0x12, 0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00))
	// VP9: B and E, no P; then an inter frame.
	f.Add(uint8(1), append(pkt(0x12, 0x0c, 0x82, 0x49, 0x83), pkt(0x12, 0x4c, 0x86)...))
	// AV1: N, one OBU element, a sequence header's first bytes.
	f.Add(uint8(2), pkt(0x12, 0x18, 0x0a, 0x0b, 0x00, 0x00, 0x00))
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		codec := []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1}[int(which)%3]
		c := &checker{t: t, codec: codec}
		fd := newFeed(c, liveReorderWindow, []storage.StreamInfo{
			{SSRC: 1, PayloadType: 96, Kind: storage.KindVideo, Codec: codec.Name(), ClockRate: 90000,
				Extensions: []storage.HeaderExtension{{ID: 3, URI: vcodec.CVOURI}}},
			{SSRC: 2, PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
		})
		feedFuzzExt(fd, in, true)
		fd.flush()
	})
}

// TestFuzzSeedsReal makes sure the committed corpus holds real media: an
// encoder's packets, which must come out as units. ARS_WRITE_FUZZ_SEEDS=1
// writes it again.
func TestFuzzSeedsReal(t *testing.T) {
	path := filepath.Join("testdata", "fuzz", "FuzzFeed", "real")
	if os.Getenv("ARS_WRITE_FUZZ_SEEDS") != "" {
		media := testmedia.Generate(t, testmedia.Options{Duration: time.Second, GOP: 10, Width: 64, Height: 48, VideoBitrate: 100})
		in := fuzzInput(media, 60)
		if err := os.WriteFile(path, []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(in))+")\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	q, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
	if !ok {
		t.Fatalf("corpus file %q", lines)
	}
	in, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	fd := newFeed(&countEmitter{counts}, liveReorderWindow, []storage.StreamInfo{
		{SSRC: 1, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000},
		{SSRC: 2, PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
	})
	feedFuzz(fd, []byte(in))
	fd.flush()
	if counts["key"] == 0 || counts["video"] < 5 || counts["audio"] < 5 {
		t.Fatalf("the corpus yields %v", counts)
	}
}

type countEmitter struct{ n map[string]int }

func (c *countEmitter) video(_ int64, v mixproto.VideoMeta, _ []byte) {
	c.n["video"]++
	if v.Key {
		c.n["key"]++
	}
}
func (c *countEmitter) audio(int64, []byte) { c.n["audio"]++ }
func (c *countEmitter) keyframeNeeded()     {}

// fuzzInput encodes the first n packets of streams in FuzzFeed's format.
func fuzzInput(streams []testmedia.Stream, n int) []byte {
	var out []byte
	var last [2]uint32
	var seen [2]bool
	for _, a := range merged(streams, nil)[:n] {
		k := 0
		if a.data[1]&0x7f == 111 {
			k = 1
		}
		ts := binary.BigEndian.Uint32(a.data[4:])
		step := uint32(0)
		if seen[k] {
			step = (ts - last[k]) / [2]uint32{3600, 960}[k]
		}
		last[k], seen[k] = ts, true
		flags := byte(k) | 1<<2 | byte(min(step, 15))<<4
		if a.data[1]&0x80 != 0 {
			flags |= 2
		}
		out = append(out, flags)
		pl := a.data[12:]
		out = binary.BigEndian.AppendUint16(out, uint16(len(pl)))
		out = append(out, pl...)
	}
	return out
}

// feedFuzz feeds FuzzFeed's input format to a feed.
func feedFuzz(fd *feed, in []byte) { feedFuzzExt(fd, in, false) }

// feedFuzzExt is feedFuzz; with ext, video packets have the X bit set, so
// their payload's first bytes are read as a header extension block.
func feedFuzzExt(fd *feed, in []byte, ext bool) {
	var seq [2]uint16
	var ts [2]uint32
	var at time.Duration
	pkt := make([]byte, 0, 1500)
	for len(in) >= 3 {
		flags := in[0]
		n := int(binary.BigEndian.Uint16(in[1:]))
		in = in[3:]
		if n > len(in) {
			n = len(in)
		}
		payload := in[:n]
		in = in[n:]
		k := int(flags & 1)
		seq[k] += uint16(flags >> 2 & 3)
		ts[k] += uint32(flags>>4) * [2]uint32{3600, 960}[k]
		at += 10 * time.Millisecond
		if k == 1 && len(payload) >= 8 && payload[1] == 200 {
			fd.rtcp(payload)
			continue
		}
		pkt = append(pkt[:0], 0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(k+1))
		if k == 1 {
			pkt[1] = 111
		} else if ext {
			pkt[0] |= 0x10
		}
		if flags&2 != 0 {
			pkt[1] |= 0x80
		}
		binary.BigEndian.PutUint16(pkt[2:], seq[k])
		binary.BigEndian.PutUint32(pkt[4:], ts[k])
		pkt = append(pkt, payload...)
		fd.rtp(at, pkt)
	}
}

// TestUnitBound: a picture that never ends (one timestamp, no marker,
// slice after slice) is dropped once too large, its memory released.
func TestUnitBound(t *testing.T) {
	counts := map[string]int{}
	fd := newFeed(&countEmitter{counts}, liveReorderWindow, []storage.StreamInfo{
		{SSRC: 1, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000}})
	nal := make([]byte, 60000)
	nal[0] = 0x65 // IDR slice
	nal[1] = 0x80 // first_mb_in_slice 0
	pkt := make([]byte, 12, 12+len(nal))
	pkt[0], pkt[1], pkt[11] = 0x80, 96, 1
	pkt = append(pkt, nal...)
	// Parameter sets first (their content is not parsed), so that only
	// the bound keeps the unit from being handed on.
	for i, ps := range [][]byte{{0x67, 0x42, 0xc0, 0x14}, {0x68, 0xce, 0x3c, 0x80}} {
		fd.rtp(0, append([]byte{0x80, 96, 0, byte(i), 0, 0, 0, 0, 0, 0, 0, 1}, ps...))
	}
	most := 0
	for i := 2; i < 300; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		fd.rtp(time.Duration(i)*time.Millisecond, pkt)
		most = max(most, cap(fd.video.cur.Buf))
	}
	fd.flush()
	if counts["video"] != 0 {
		t.Fatalf("a %d-byte unit was handed on", 300*len(nal))
	}
	if most > 2*maxUnit {
		t.Fatalf("the open unit grew to %d bytes", most)
	}
}
