package webm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"

	"github.com/ars-project/ars/internal/vcodec"
)

// Video describes the video track.
type Video struct {
	Codec         vcodec.Codec // VP8, VP9 or AV1
	Width, Height int
	// CodecPrivate is AV1's av1C record (AV1-ISOBMFF section 2.3, which
	// the Matroska AV1 mapping reuses); empty for VP8 and VP9.
	CodecPrivate []byte
}

// Audio describes the Opus track.
type Audio struct {
	Channels int // 1 or 2
}

// codecID is the Matroska CodecID of a video codec.
func codecID(c vcodec.Codec) (string, error) {
	switch c {
	case vcodec.VP8:
		return "V_VP8", nil
	case vcodec.VP9:
		return "V_VP9", nil
	case vcodec.AV1:
		return "V_AV1", nil
	}
	return "", fmt.Errorf("%w: %v", ErrCodec, c)
}

// opusHead is the Opus identification header (RFC 7845 section 5.1), the
// CodecPrivate of A_OPUS. Pre-skip is 0: the packets are a real-time
// sender's, whose encoder delay the recorder does not know.
func opusHead(channels int) []byte {
	b := append([]byte("OpusHead"), 1, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 0)     // pre-skip
	b = binary.LittleEndian.AppendUint32(b, 48000) // input sample rate
	b = binary.LittleEndian.AppendUint16(b, 0)     // output gain
	return append(b, 0)                            // mapping family 0
}

// Writer writes one WebM file. Frames of each track must come in
// presentation order; the two tracks may interleave loosely (the library
// sorts blocks across tracks).
type Writer struct {
	f            *os.File
	blocks       []webm.BlockWriteCloser
	video, audio int // index in blocks, or -1
	closed       bool
	// closeErr is the error of finishing the file: ebml-go drops the
	// error of closing its output, so the output keeps it here.
	closeErr error
	// end is where each track's last frame ends, for the Duration the
	// header gets at Close.
	last, step [2]time.Duration
	seen       [2]bool
}

// durationSentinel is the Duration written into the header until Close
// knows the real one: the library writes the header first and streams
// blocks after it, so Close patches the 8-byte float in place. 2^52 ms
// (142,000 years) is no real duration, so its bit pattern after the
// Duration element ID is found only there.
const durationSentinel = 1 << 52

// durationElement is the Duration element's ID (0x4489) and an 8-byte
// size, as ebml-go writes a float64.
var durationElement = []byte{0x44, 0x89, 0x88}

// Create creates path (mode 0640 like every recording file, truncated if
// it exists) with the given tracks; either may be nil, not both.
func Create(path string, v *Video, a *Audio, mode os.FileMode) (*Writer, error) {
	var tracks []webm.TrackEntry
	w := &Writer{video: -1, audio: -1}
	if v != nil {
		id, err := codecID(v.Codec)
		if err != nil {
			return nil, err
		}
		w.video = len(tracks)
		tracks = append(tracks, webm.TrackEntry{Name: "Video", TrackNumber: uint64(len(tracks) + 1), TrackUID: uint64(len(tracks) + 1),
			CodecID: id, CodecPrivate: v.CodecPrivate, TrackType: 1,
			Video: &webm.Video{PixelWidth: uint64(max(v.Width, 0)), PixelHeight: uint64(max(v.Height, 0))}})
	}
	if a != nil {
		ch := a.Channels
		if ch != 1 {
			ch = 2
		}
		w.audio = len(tracks)
		tracks = append(tracks, webm.TrackEntry{Name: "Audio", TrackNumber: uint64(len(tracks) + 1), TrackUID: uint64(len(tracks) + 1),
			CodecID: "A_OPUS", CodecPrivate: opusHead(ch), TrackType: 2,
			// Opus needs 80 ms of pre-roll after a seek (RFC 7845 and the
			// Matroska Opus mapping).
			SeekPreRoll: uint64(80 * time.Millisecond),
			Audio:       &webm.Audio{SamplingFrequency: 48000, Channels: uint64(ch)}})
	}
	if len(tracks) == 0 {
		return nil, ErrNoTracks
	}
	// Read-write: Close reads the header back to patch its duration.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return nil, fmt.Errorf("create webm: %w", err)
	}
	w.f = f
	info := *webm.DefaultSegmentInfo
	info.MuxingApp, info.WritingApp = "ars (ebml-go)", "ars"
	info.Duration = durationSentinel
	blocks, err := webm.NewSimpleBlockWriter(syncCloser{f: f, w: w}, tracks, mkvcore.WithSegmentInfo(&info))
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("webm header: %w", err)
	}
	w.blocks = blocks
	return w, nil
}

// ms is a presentation time in the file's timestamp unit (the default
// TimecodeScale, 1 ms).
func ms(t time.Duration) int64 { return int64(t / time.Millisecond) }

// WriteVideo writes one video frame shown at pts. frame may be reused
// once it returns.
func (w *Writer) WriteVideo(pts time.Duration, key bool, frame []byte) error {
	if w.video < 0 {
		return ErrNoTrack
	}
	// The library hands blocks to its muxing goroutine and may hold a
	// few back to sort tracks: it gets its own copy.
	if _, err := w.blocks[w.video].Write(key, ms(pts), bytes.Clone(frame)); err != nil {
		return fmt.Errorf("webm video: %w", err)
	}
	w.note(0, pts)
	return nil
}

// WriteAudio writes one Opus packet played at pts. packet may be reused
// once it returns.
func (w *Writer) WriteAudio(pts time.Duration, packet []byte) error {
	if w.audio < 0 {
		return ErrNoTrack
	}
	if _, err := w.blocks[w.audio].Write(true, ms(pts), bytes.Clone(packet)); err != nil {
		return fmt.Errorf("webm audio: %w", err)
	}
	w.note(1, pts)
	return nil
}

// note remembers a track's last frame and its spacing: the file ends one
// step after it.
func (w *Writer) note(track int, pts time.Duration) {
	if w.seen[track] && pts > w.last[track] {
		w.step[track] = pts - w.last[track]
	}
	w.last[track], w.seen[track] = pts, true
}

// duration is where the file's last frame ends.
func (w *Writer) duration() time.Duration {
	var d time.Duration
	for i := range w.last {
		if w.seen[i] {
			d = max(d, w.last[i]+w.step[i])
		}
	}
	return d
}

// patchDuration writes the real Duration over the sentinel.
func (w *Writer) patchDuration() error {
	head := make([]byte, 4096)
	n, err := w.f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read webm header: %w", err)
	}
	var sentinel [8]byte
	binary.BigEndian.PutUint64(sentinel[:], math.Float64bits(durationSentinel))
	at := bytes.Index(head[:n], append(append([]byte(nil), durationElement...), sentinel[:]...))
	if at < 0 {
		return errors.New("webm: header has no duration to patch")
	}
	var real [8]byte
	binary.BigEndian.PutUint64(real[:], math.Float64bits(float64(w.duration())/float64(time.Millisecond)))
	if _, err := w.f.WriteAt(real[:], int64(at+len(durationElement))); err != nil {
		return fmt.Errorf("patch webm duration: %w", err)
	}
	return nil
}

// Close finishes the file (the last cluster, cues) and syncs it.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var first error
	// The library closes the file when its last track closes.
	for _, b := range w.blocks {
		if err := b.Close(); err != nil && first == nil {
			first = fmt.Errorf("close webm: %w", err)
		}
	}
	// The last track's Close returns once the library has closed the
	// output (syncCloser.Close).
	if first == nil {
		first = w.closeErr
	}
	return first
}

// syncCloser gives the header its duration and syncs the file before
// closing it: a finished recording file is durable before it is
// reported.
type syncCloser struct {
	f *os.File
	w *Writer
}

func (s syncCloser) Write(p []byte) (int, error) { return s.f.Write(p) }

func (s syncCloser) Close() error {
	err := s.w.patchDuration()
	if serr := s.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync webm: %w", serr)
	}
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close webm: %w", cerr)
	}
	s.w.closeErr = err
	return err
}

var _ io.WriteCloser = syncCloser{}
