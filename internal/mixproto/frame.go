package mixproto

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Type is a frame's type.
type Type uint8

// Frames from the daemon to the mixer.
const (
	TypeConfig Type = 1 // Config, JSON; the first frame, exactly once
	TypeLayout Type = 2 // Layout, JSON; replaces the whole layout
	TypeJoin   Type = 3 // Source, JSON; a participant's stream appears
	TypeLeave  Type = 4 // Leave, JSON; a participant's stream ends
	TypeVideo  Type = 5 // binary media body: a video unit (VideoMeta in the flags)
	TypeAudio  Type = 6 // binary media body: one Opus packet
	TypeEnd    Type = 7 // empty; finish, finalise the outputs, exit 0
	// TypeSnapshot asks a snapshotter (ars-mixer --snapshotter) for a
	// JPEG of one keyframe: SnapRequest, a binary media body (snapshot.go).
	TypeSnapshot Type = 8
)

// Frames from the mixer to the daemon.
const (
	TypeReady      Type = 64 // empty; the pipeline runs
	TypeFileClosed Type = 65 // FileClosed, JSON; an output file is complete
	TypeProgress   Type = 66 // Progress, JSON; about every 500 ms
	TypeError      Type = 67 // Error, JSON; the mixer is about to exit non-zero
	TypeDone       Type = 68 // empty; every output is finalised
	// TypeSnapResult is a snapshotter's answer to one TypeSnapshot:
	// SnapResult, binary (snapshot.go).
	TypeSnapResult Type = 69
)

// MaxBody bounds a frame body: an access unit of a 1080p keyframe at a
// high bitrate fits with room to spare.
const MaxBody = 8 << 20

// mediaHeader is the fixed part of a media body: id, pts, flags.
const mediaHeader = 4 + 8 + 1

// FlagKey marks a video unit that is a keyframe (an H.264 IDR picture
// with SPS/PPS, a VP8 or VP9 key frame, an AV1 temporal unit with a
// sequence header). The other bits of a video unit's flags are
// VideoMeta's.
const FlagKey = 1

// Media is a video or audio unit. Data aliases the reader's buffer until
// the next ReadFrame.
type Media struct {
	Source uint32
	PTS    int64 // nanoseconds on the composite's clock
	Flags  uint8
	Data   []byte
}

// Frame is one decoded frame. Body aliases the reader's buffer until the
// next ReadFrame.
type Frame struct {
	Type Type
	Body []byte
}

// Known reports whether t is a type of this protocol version.
func (t Type) Known() bool {
	return (t >= TypeConfig && t <= TypeWebHold) || (t >= TypeReady && t <= TypeWebRTMPStatus)
}

// Reader reads frames.
type Reader struct {
	r   *bufio.Reader
	buf []byte
	hdr [5]byte
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// ReadFrame reads the next frame. It returns io.EOF at a clean end and
// io.ErrUnexpectedEOF inside a frame.
func (r *Reader) ReadFrame() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:1]); err != nil {
		return Frame{}, err
	}
	if _, err := io.ReadFull(r.r, r.hdr[1:]); err != nil {
		return Frame{}, unexpected(err)
	}
	t := Type(r.hdr[0])
	if !t.Known() {
		return Frame{}, fmt.Errorf("%w: %d", ErrUnknownType, t)
	}
	n := binary.BigEndian.Uint32(r.hdr[1:])
	if n > MaxBody {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n, max(int(n), 64<<10))
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return Frame{}, unexpected(err)
	}
	return Frame{Type: t, Body: r.buf}, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseMedia decodes a TypeVideo or TypeAudio body.
func ParseMedia(body []byte) (Media, error) {
	if len(body) < mediaHeader {
		return Media{}, ErrShortBody
	}
	return Media{
		Source: binary.BigEndian.Uint32(body),
		PTS:    int64(binary.BigEndian.Uint64(body[4:])),
		Flags:  body[12],
		Data:   body[mediaHeader:],
	}, nil
}

// Decode unmarshals a JSON body into v.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("mixproto: %w", err)
	}
	return nil
}

// Writer writes frames. It is not safe for concurrent use.
type Writer struct {
	w   *bufio.Writer
	hdr [5 + aacHeader]byte
}

// NewWriter returns a Writer on w. Call Flush to hand buffered frames on.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// WriteMedia writes a video or audio unit.
func (w *Writer) WriteMedia(t Type, m Media) error {
	if len(m.Data)+mediaHeader > MaxBody {
		return ErrFrameTooLarge
	}
	h := w.hdr[:5+mediaHeader]
	h[0] = byte(t)
	binary.BigEndian.PutUint32(h[1:], uint32(mediaHeader+len(m.Data)))
	binary.BigEndian.PutUint32(h[5:], m.Source)
	binary.BigEndian.PutUint64(h[9:], uint64(m.PTS))
	h[17] = m.Flags
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	_, err := w.w.Write(m.Data)
	return err
}

// WriteJSON writes a frame whose body is v as JSON (nil: an empty body).
func (w *Writer) WriteJSON(t Type, v any) error {
	var body []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("mixproto: %w", err)
		}
		body = b
	}
	if len(body) > MaxBody {
		return ErrFrameTooLarge
	}
	w.hdr[0] = byte(t)
	binary.BigEndian.PutUint32(w.hdr[1:5], uint32(len(body)))
	if _, err := w.w.Write(w.hdr[:5]); err != nil {
		return err
	}
	_, err := w.w.Write(body)
	return err
}

// Flush hands buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
