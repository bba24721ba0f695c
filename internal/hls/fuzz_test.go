package hls

import (
	"encoding/binary"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

func rtpPacket(seq uint16, ts uint32, marker bool, payload ...byte) []byte {
	p := make([]byte, 12, 12+len(payload))
	p[0] = 0x80
	p[1] = 96
	if marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], 0x1234)
	return append(p, payload...)
}

// FuzzTrackWriteRTP feeds hostile packets (split on a 0xff 0xfe marker)
// to an H.264 video and an Opus audio track (see fuzzTrack).
func FuzzTrackWriteRTP(f *testing.F) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x58, 0xba, 0x80}
	seed := rtpPacket(1, 0, false, append([]byte{0x18, 0, byte(len(sps))}, sps...)...)
	seed = append(seed, 0xff, 0xfe)
	seed = append(seed, rtpPacket(2, 0, true, 0x65, 0x88, 0x84, 0x00)...)
	seed = append(seed, 0xff, 0xfe)
	seed = append(seed, rtpPacket(3, 3000, true, 0x7c, 0x85, 1, 2, 3)...)
	f.Add(seed)
	f.Add(rtpPacket(1, 0, false, 0xfc, 0xff, 0xfe))
	reordered := rtpPacket(3, 3000, true, 0x7c, 0x85, 1, 2, 3)
	reordered = append(append(reordered, 0xff, 0xfe), rtpPacket(1, 0, false, append([]byte{0x18, 0, byte(len(sps))}, sps...)...)...)
	reordered = append(append(reordered, 0xff, 0xfe), rtpPacket(2, 0, true, 0x65, 0x88, 0x84, 0x00)...)
	reordered = append(append(reordered, 0xff, 0xfe), rtpPacket(2, 0, true, 0x65, 0x88, 0x84, 0x00)...)
	f.Add(reordered)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []string{storage.KindVideo, storage.KindAudio} {
			codec := storage.CodecH264
			if kind == storage.KindAudio {
				codec = storage.CodecOpus
			}
			for _, c := range []Container{ContainerFMP4, ContainerTS} {
				fuzzTrack(t, Config{Kind: kind, Codec: codec, ClockRate: 90000, Container: c}, data)
			}
		}
		// Opus to be transcoded to AAC in MPEG-TS: the hook sees what the
		// Opus track would have written.
		fuzzTrack(t, Config{Kind: storage.KindAudio, Codec: storage.CodecOpus, Container: ContainerTS,
			Transcode: func(pts time.Duration, opus []byte) {
				if pts < 0 || len(opus) == 0 {
					t.Fatalf("transcode %v %d bytes", pts, len(opus))
				}
			}}, data)
	})
}

// splitPackets cuts fuzz input into packets on 0xff 0xfe.
func splitPackets(data []byte) [][]byte {
	var pkts [][]byte
	for len(data) > 0 {
		i := 0
		for i+1 < len(data) && !(data[i] == 0xff && data[i+1] == 0xfe) {
			i++
		}
		if i+1 >= len(data) {
			i = len(data)
		}
		pkts = append(pkts, data[:i])
		if i+2 > len(data) {
			break
		}
		data = data[i+2:]
	}
	return pkts
}

// joinPackets is the inverse of splitPackets, for seeds.
func joinPackets(pkts []testmedia.Packet) []byte {
	var b []byte
	for i, p := range pkts {
		if i > 0 {
			b = append(b, 0xff, 0xfe)
		}
		b = append(b, p.Data...)
	}
	return b
}

// fuzzTrack feeds data's packets to a track of cfg, once as given 1 ms
// apart and once with neighbours swapped and 70 ms apart (so the reorder
// buffer both waits and gives up): nothing may panic, no write may fail,
// and whatever is written must be closable.
func fuzzTrack(t *testing.T, cfg Config, data []byte) {
	pkts := splitPackets(data)
	swapped := append([][]byte(nil), pkts...)
	for i := 0; i+1 < len(swapped); i += 2 {
		swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
	}
	feeds := []struct {
		pkts [][]byte
		step time.Duration
	}{{pkts, time.Millisecond}, {swapped, 70 * time.Millisecond}}
	for _, fd := range feeds {
		c := cfg
		c.Dir, c.Name, c.SegmentDuration, c.MP4 = t.TempDir(), "f", time.Second, true
		c.Log = slog.New(slog.DiscardHandler)
		tr, err := NewTrack(c)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1700000000, 0)
		for i, p := range fd.pkts {
			if err := tr.WriteRTP(at.Add(time.Duration(i)*fd.step), p); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Close(); err != nil && err != ErrNoMedia {
			t.Fatal(err)
		}
	}
}

// FuzzCodecTrackWriteRTP is FuzzTrackWriteRTP for VP8, VP9 and AV1 video
// whose packets may carry a camera orientation: the first byte picks the
// codec, so mutations reach pion's depacketizers, the frame assembler,
// mediacommon's header parsers, the sample entries and the init segments
// of an orientation change. Seeds are real encodes whose orientation
// turns halfway.
func FuzzCodecTrackWriteRTP(f *testing.F) {
	codecs := []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1}
	f.Add(append([]byte{0}, rtpPacket(1, 0, true, 0x10, 0x9d, 0x01, 0x2a)...))
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		for i, c := range codecs {
			v := testmedia.Generate(f, testmedia.Options{Duration: 600 * time.Millisecond, GOP: 3, FPS: 10, VideoBitrate: 100,
				Video: true, Codec: c.Name()})[0]
			// WithCVO leaves packets that carry an extension alone: the
			// second half first.
			v = testmedia.WithCVO(v, fuzzCVOID, len(v.Packets)/2, vcodec.Orientation{Rotation: 180}.Byte())
			v = testmedia.WithCVO(v, fuzzCVOID, 0, vcodec.Orientation{Rotation: 90}.Byte())
			seed := append([]byte{byte(i)}, joinPackets(v.Packets)...)
			f.Add(seed)
			f.Add(seed[:len(seed)/2])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c := codecs[int(data[0])%len(codecs)]
		fuzzTrack(t, Config{Kind: storage.KindVideo, Codec: c.Name(), CVOID: fuzzCVOID}, data[1:])
	})
}

// fuzzCVOID is the CVO extension ID of the fuzzed codec tracks.
const fuzzCVOID = 3

// FuzzParsePlaylist feeds damaged playlists to the resume parser: it must
// not panic, and whatever it keeps must name files inside the track's
// directory.
func FuzzParsePlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"a_init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z\n#EXTINF:1.000,\na_1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"a_init_2.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:09.000Z\n#EXTINF:0.960,\na_2.m4s\n#EXT-X-ENDLIST\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-TARGETDURATION:2\n#EXT-X-DISCONTINUITY\n#EXT-X-AGORA-ROTATE:WIDTH=320,HEIGHT=240,ROTATE=0,TIME=20260102030405000\n#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=20260102030405000\n#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z\n#EXTINF:1.000000,\na_20260102030405000.ts\n#EXTINF:0.960000,\na_20260102030406000.ts\n#EXT-X-ENDLIST\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pl, err := parsePlaylist(b, "a_init.mp4")
		if err != nil {
			return
		}
		for _, sg := range pl.segs {
			if !plainName(sg.name) || !plainName(sg.mapName) || sg.dur < 0 || len(sg.tags) > maxTagsPerSeg {
				t.Fatalf("kept %+v", sg)
			}
			for _, tag := range sg.tags {
				// A tag is written back as one line of the playlist.
				if !printable(tag) || len(tag) > maxTagLen || !strings.HasPrefix(tag, "#EXT-X-AGORA-") {
					t.Fatalf("kept tag %q", tag)
				}
			}
		}
	})
}

// FuzzWriteAAC feeds an AAC track a hostile AudioSpecificConfig and
// access units (split on 0xff 0xfe, the first two bytes of each a
// presentation time in milliseconds): nothing may panic, no write may
// fail, and whatever is written must be closable.
func FuzzWriteAAC(f *testing.F) {
	f.Add([]byte{0x11, 0x90, 0xff, 0xfe, 0, 0, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c, 0xff, 0xfe, 0, 21, 0x21, 0x10, 0x05})
	f.Add([]byte{0x12, 0x10, 0xff, 0xfe, 0, 0, 1, 2, 3, 0xff, 0xfe, 0, 0, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := splitPackets(data)
		if len(parts) == 0 {
			return
		}
		tr, err := NewTrack(Config{Dir: t.TempDir(), Name: "f", Kind: storage.KindAudio, Codec: storage.CodecOpus,
			Container: ContainerTS, SegmentDuration: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
			Transcode: func(time.Duration, []byte) {}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetAACConfig(parts[0]); err != nil {
			return
		}
		for _, p := range parts[1:] {
			if len(p) < 2 {
				continue
			}
			pts := time.Duration(binary.BigEndian.Uint16(p)) * time.Millisecond
			if err := tr.WriteAAC(pts, p[2:]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Close(); err != nil && err != ErrNoMedia {
			t.Fatal(err)
		}
	})
}
