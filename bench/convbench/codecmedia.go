package convbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// CodecMedia is one codec's video for the codec comparison: the test
// pattern encoded by ffmpeg with the size, rate, length, bitrate and GOP
// of every other codec's, packetized to RTP and kept as a video-only
// capture. The .mjr files for janus-pp-rec are written from Video, the
// packets read back from that capture, so both sides get the same bytes.
type CodecMedia struct {
	Codec    string // storage codec name: H264, VP8, VP9, AV1
	Capture  string
	Video    *loadgen.Track
	Frames   int           // pictures sent: distinct RTP timestamps
	Duration time.Duration // the configured media length
}

// Bitrate is the video's RTP bits per second, headers included.
func (m CodecMedia) Bitrate() float64 {
	n := 0
	for _, p := range m.Video.Packets {
		n += len(p.Data)
	}
	return float64(n*8) / m.Duration.Seconds()
}

// codecMediaStart is the capture's fixed wall clock, so that a capture
// does not depend on when it was encoded.
func codecMediaStart() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

// codecMediaName names a cached capture by codec and every option that
// changes the encode, so a capture is only reused for the same settings.
func codecMediaName(codec string, o loadgen.MediaOptions) string {
	return fmt.Sprintf("%s-%dx%d-%dfps-v%dk-%ds-g%d.cap", strings.ToLower(codec), o.Width, o.Height, o.FPS, o.VideoKbps,
		int(o.Duration/time.Second), o.KeyframeSecs)
}

// EnsureCodecMedia encodes codec's video once under root (later calls
// with the same options reuse the capture) and loads its packets.
// testmedia does the encoding, as for the converter's own tests: libx264,
// libvpx, libvpx-vp9 or libaom-av1 at real-time settings, ffmpeg's RTP
// packetizer (pion's for AV1, which Debian's ffmpeg cannot packetize).
// Its RTP payload budget is fixed at 1200 bytes, as loadgen's default.
func EnsureCodecMedia(root, codec string, o loadgen.MediaOptions) (CodecMedia, error) {
	o = o.WithDefaults()
	m := CodecMedia{Codec: codec, Capture: filepath.Join(root, codecMediaName(codec, o)), Duration: o.Duration}
	if _, err := os.Stat(m.Capture); err != nil {
		if err := encodeCodecMedia(m.Capture, codec, o); err != nil {
			return CodecMedia{}, err
		}
	}
	v, frames, err := readVideo(m.Capture)
	if err != nil {
		return CodecMedia{}, err
	}
	if v.Info.Codec != codec {
		return CodecMedia{}, fmt.Errorf("%w: %s holds %s, not %s", loadgen.ErrMedia, m.Capture, v.Info.Codec, codec)
	}
	m.Video, m.Frames = v, frames
	return m, nil
}

func encodeCodecMedia(path, codec string, o loadgen.MediaOptions) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("codec media: %w", err)
	}
	to := testmedia.Options{Duration: o.Duration, Width: o.Width, Height: o.Height, FPS: o.FPS, GOP: o.FPS * o.KeyframeSecs,
		Video: true, VideoBitrate: o.VideoKbps, Codec: codec}
	var (
		streams []testmedia.Stream
		err     error
	)
	// ffmpeg sends the packets over loopback, which can drop one on a
	// busy box (testmedia then fails rather than keep a gap): retry once.
	for range 2 {
		if streams, err = testmedia.Encode(to); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", loadgen.ErrMedia, codec, err)
	}
	if len(streams) != 1 {
		return fmt.Errorf("%w: %s: %d streams encoded, want the video alone", loadgen.ErrMedia, codec, len(streams))
	}
	s := streams[0]
	// Written under a temporary name so that an interrupted run never
	// leaves a half capture that the next run would take as complete.
	tmp := path + ".part"
	w, err := storage.Create(tmp, storage.Header{Channel: "bench", UID: 1, Start: codecMediaStart(), Source: "rtp",
		Streams: []storage.StreamInfo{s.Info}})
	if err != nil {
		return fmt.Errorf("codec media: %w", err)
	}
	for _, p := range s.Packets {
		if err := w.Write(storage.RecordRTP, p.At, p.Data); err != nil {
			_ = w.Close()
			_ = os.Remove(tmp)
			return fmt.Errorf("codec media: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("codec media: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("codec media: %w", err)
	}
	return nil
}

// readVideo reads the capture's one video stream back, and counts its
// pictures (an RTP timestamp each).
func readVideo(path string) (*loadgen.Track, int, error) {
	r, err := storage.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("codec media: %w", err)
	}
	defer r.Close()
	var t *loadgen.Track
	for _, s := range r.Header().Streams {
		if s.Kind == storage.KindVideo && t == nil {
			t = &loadgen.Track{Info: s}
		}
	}
	if t == nil {
		return nil, 0, fmt.Errorf("%w: %s has no video stream", loadgen.ErrMedia, path)
	}
	pictures := map[uint32]struct{}{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("codec media: %w", err)
		}
		if rec.Kind != storage.RecordRTP || len(rec.Data) < 12 || binary.BigEndian.Uint32(rec.Data[8:]) != t.Info.SSRC {
			continue
		}
		pictures[binary.BigEndian.Uint32(rec.Data[4:])] = struct{}{}
		t.Packets = append(t.Packets, loadgen.Packet{At: rec.At, Data: append([]byte(nil), rec.Data...)})
	}
	if len(pictures) == 0 {
		return nil, 0, fmt.Errorf("%w: %s has no video packets", loadgen.ErrMedia, path)
	}
	return t, len(pictures), nil
}
