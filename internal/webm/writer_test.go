package webm

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

func rtpTS(p []byte) uint32 { return binary.BigEndian.Uint32(p[4:]) }

// frames assembles a test stream's pictures with vcodec.Assembler, as the
// recorders do, with their presentation times.
func frames(t *testing.T, s testmedia.Stream, c vcodec.Codec) (pts []time.Duration, key []bool, data [][]byte, first vcodec.Frame) {
	t.Helper()
	a := vcodec.NewAssembler(c)
	base := rtpTS(s.Packets[0].Data)
	end := func(ts uint32) {
		f, err := a.End()
		if err != nil {
			t.Fatalf("frame at %d: %v", ts, err)
		}
		if len(data) == 0 {
			first = f
			first.Data = nil
			// Valid until the next Begin, like Data.
			first.SequenceHeader = append([]byte(nil), f.SequenceHeader...)
		}
		pts = append(pts, time.Duration(int64(ts-base)*int64(time.Second)/vcodec.ClockRate))
		key = append(key, f.Key)
		data = append(data, append([]byte(nil), f.Data...))
	}
	for i, p := range s.Packets {
		ts := rtpTS(p.Data)
		if i == 0 || ts != rtpTS(s.Packets[i-1].Data) {
			if i > 0 {
				end(rtpTS(s.Packets[i-1].Data))
			}
			a.Begin()
		}
		a.Push(p.Data[12:])
	}
	end(rtpTS(s.Packets[len(s.Packets)-1].Data))
	return pts, key, data, first
}

// TestWriteWebM writes VP8, VP9 and AV1 pictures (Debian ffmpeg's
// encoders, assembled from RTP) and Opus packets into WebM files that
// ffmpeg decodes silently with every picture and packet and the sent
// duration.
func TestWriteWebM(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	for _, c := range []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1} {
		t.Run(c.Name(), func(t *testing.T) {
			s := testmedia.Generate(t, testmedia.Options{Duration: 3 * time.Second, FPS: 25, GOP: 25, Codec: c.Name()})
			v, a := s[0], s[1]
			pts, key, data, first := frames(t, v, c)
			if !key[0] || first.Width != 320 {
				t.Fatalf("first frame key %v size %dx%d", key[0], first.Width, first.Height)
			}
			var private []byte
			if c == vcodec.AV1 {
				private = av1CRecord(t, first)
			}
			path := filepath.Join(t.TempDir(), "out.webm")
			w, err := Create(path, &Video{Codec: c, Width: first.Width, Height: first.Height, CodecPrivate: private}, &Audio{Channels: 2}, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			abase := rtpTS(a.Packets[0].Data)
			ai := 0
			for i := range data {
				// Interleave audio up to this picture's time.
				for ; ai < len(a.Packets); ai++ {
					at := time.Duration(int64(rtpTS(a.Packets[ai].Data)-abase) * int64(time.Second) / 48000)
					if at > pts[i] {
						break
					}
					if err := w.WriteAudio(at, a.Packets[ai].Data[12:]); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.WriteVideo(pts[i], key[i], data[i]); err != nil {
					t.Fatal(err)
				}
			}
			for ; ai < len(a.Packets); ai++ {
				at := time.Duration(int64(rtpTS(a.Packets[ai].Data)-abase) * int64(time.Second) / 48000)
				if err := w.WriteAudio(at, a.Packets[ai].Data[12:]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			p := testmedia.ProbeMP4(t, path) // decodes silently with -xerror first
			pv, pa := p.Stream("video"), p.Stream("audio")
			want := map[vcodec.Codec]string{vcodec.VP8: "vp8", vcodec.VP9: "vp9", vcodec.AV1: "av1"}[c]
			if pv == nil || pv.Codec != want || pv.Frames != len(data) || pa == nil || pa.Codec != "opus" || pa.Frames != len(a.Packets) {
				t.Fatalf("probe %+v, want %s with %d pictures and opus with %d packets", p.Streams, want, len(data), len(a.Packets))
			}
			if d := p.Duration - 3*time.Second; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("duration %v, sent 3 s", p.Duration)
			}
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(filepath.Join(dir, "a.webm"), nil, nil, 0o640); !errors.Is(err, ErrNoTracks) {
		t.Errorf("no tracks: %v", err)
	}
	if _, err := Create(filepath.Join(dir, "b.webm"), &Video{Codec: vcodec.H264}, nil, 0o640); !errors.Is(err, ErrCodec) {
		t.Errorf("H.264: %v", err)
	}
	w, err := Create(filepath.Join(dir, "c.webm"), nil, &Audio{Channels: 1}, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteVideo(0, true, []byte{1}); !errors.Is(err, ErrNoTrack) {
		t.Errorf("video into an audio-only file: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func av1CRecord(t *testing.T, f vcodec.Frame) []byte {
	t.Helper()
	if f.AV1 == nil || len(f.SequenceHeader) == 0 {
		t.Fatal("AV1 key frame without a sequence header")
	}
	b, err := vcodec.AV1ConfigBytes(f.AV1, f.SequenceHeader)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
