package hls

import (
	"encoding/binary"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// benchTrack feeds s's packets over and over (each pass continuing the
// sequence numbers, timestamps and arrival times of the one before) to a
// track of cfg: one op is one RTP packet, everything a packet costs on
// average included (reordering, depacketizing, segments and playlists
// written to disk).
func benchTrack(b *testing.B, s testmedia.Stream, cfg Config) {
	cfg.Dir, cfg.Log = b.TempDir(), slog.New(slog.DiscardHandler)
	tr, err := NewTrack(cfg)
	if err != nil {
		b.Fatal(err)
	}
	n := len(s.Packets)
	last := s.Packets[n-1].Data
	span := binary.BigEndian.Uint32(last[4:]) - binary.BigEndian.Uint32(s.Packets[0].Data[4:]) +
		uint32(int64(s.FrameDuration())*int64(s.Info.ClockRate)/int64(time.Second))
	wall := s.Packets[n-1].At + s.FrameDuration()
	origin := time.Unix(1700000000, 0)
	buf := make([]byte, 0, 2048)
	size := 0
	for _, p := range s.Packets {
		size += len(p.Data)
	}
	b.SetBytes(int64(size / n))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pass, p := i/n, s.Packets[i%n]
		buf = append(buf[:0], p.Data...)
		binary.BigEndian.PutUint16(buf[2:], binary.BigEndian.Uint16(buf[2:])+uint16(pass*n))
		binary.BigEndian.PutUint32(buf[4:], binary.BigEndian.Uint32(buf[4:])+uint32(pass)*span)
		if err := tr.WriteRTP(origin.Add(time.Duration(pass)*wall+p.At), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	// allocs/op rounds down: this says what a packet costs exactly.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/pkt")
	if err := tr.Close(); err != nil && err != ErrNoMedia {
		b.Fatal(err)
	}
}

// BenchmarkTrackVideo compares the MPEG-TS video path with the fMP4 one:
// H.264 from libx264 at 600 kbit/s, 25 fps, 4 s segments.
func BenchmarkTrackVideo(b *testing.B) {
	v := testmedia.Generate(b, testmedia.Options{Duration: 8 * time.Second, FPS: 25, GOP: 50, Video: true})[0]
	for _, c := range []Container{ContainerFMP4, ContainerTS} {
		b.Run(c.String(), func(b *testing.B) {
			benchTrack(b, v, Config{Name: "bench_video", Kind: storage.KindVideo, Codec: storage.CodecH264,
				ClockRate: 90000, SegmentDuration: 4 * time.Second, Container: c})
		})
	}
}

// BenchmarkTrackAudio is BenchmarkTrackVideo for Opus audio.
func BenchmarkTrackAudio(b *testing.B) {
	a := testmedia.Generate(b, testmedia.Options{Duration: 8 * time.Second, Audio: true})[0]
	for _, c := range []Container{ContainerFMP4, ContainerTS} {
		b.Run(c.String(), func(b *testing.B) {
			benchTrack(b, a, Config{Name: "bench_audio", Kind: storage.KindAudio, Codec: storage.CodecOpus,
				Channels: 2, SegmentDuration: 4 * time.Second, Container: c})
		})
	}
}

// BenchmarkTrackVideoPacketPath is BenchmarkTrackVideo without segment
// writes (the segment duration is never reached): what each packet costs
// on its way in (reordering, depacketizing, assembling the picture),
// which MPEG-TS leaves as fMP4 has it; the muxing happens once per
// segment.
func BenchmarkTrackVideoPacketPath(b *testing.B) {
	v := testmedia.Generate(b, testmedia.Options{Duration: 8 * time.Second, FPS: 25, GOP: 50, Video: true})[0]
	for _, c := range []Container{ContainerFMP4, ContainerTS} {
		b.Run(c.String(), func(b *testing.B) {
			benchTrack(b, v, Config{Name: "bench_video", Kind: storage.KindVideo, Codec: storage.CodecH264,
				ClockRate: 90000, SegmentDuration: 100 * time.Hour, Container: c})
		})
	}
}
