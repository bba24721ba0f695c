package mixproto

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Snapshot frames: the daemon asks a snapshotter process (ars-mixer
// --snapshotter) for a JPEG of one keyframe and gets one answer per
// request. A snapshotter needs no Config: it says TypeReady once its
// decoders can run, answers every TypeSnapshot with a TypeSnapResult of
// the same ID (in any order), and exits 0 after TypeEnd once every
// request it read is answered.
//
// A TypeSnapshot body is a video unit's media body (ParseMedia): the
// source field is the request's ID, the PTS is unused (0), the flags are
// the unit's VideoMeta and must say a keyframe, the payload is the unit
// exactly as a composite's TypeVideo carries it (an H.264 access unit in
// Annex B with its SPS and PPS, a VP8 or VP9 key frame, an AV1 temporal
// unit with its sequence header).
//
// A TypeSnapResult body is a 4-byte big-endian request ID, a status byte
// (0: the payload is the JPEG; 1: the payload is why there is none, UTF-8,
// at most MaxSnapError bytes) and the payload.

// MaxSnapError bounds a snapshot error message.
const MaxSnapError = 1024

// snapResultHeader is the fixed part of a TypeSnapResult body.
const snapResultHeader = 4 + 1

// Snapshot result statuses.
const (
	snapOK     = 0
	snapFailed = 1
)

// SnapRequest is one keyframe to turn into a JPEG (TypeSnapshot). Data
// aliases the reader's buffer until the next ReadFrame.
type SnapRequest struct {
	ID    uint32
	Video VideoMeta
	Data  []byte
}

// SnapResult is a snapshotter's answer (TypeSnapResult): JPEG, or Err
// when the keyframe gave no picture. JPEG aliases the reader's buffer
// until the next ReadFrame.
type SnapResult struct {
	ID   uint32
	JPEG []byte
	Err  string
}

// ParseSnapRequest decodes and checks a TypeSnapshot body: a known
// codec, a keyframe, a payload.
func ParseSnapRequest(body []byte) (SnapRequest, error) {
	m, err := ParseMedia(body)
	if err != nil {
		return SnapRequest{}, err
	}
	v, err := m.Video()
	if err != nil {
		return SnapRequest{}, err
	}
	if !v.Key {
		return SnapRequest{}, fmt.Errorf("%w: request %d is not a keyframe", ErrBadSnapshot, m.Source)
	}
	if len(m.Data) == 0 {
		return SnapRequest{}, fmt.Errorf("%w: request %d has no payload", ErrBadSnapshot, m.Source)
	}
	return SnapRequest{ID: m.Source, Video: v, Data: m.Data}, nil
}

// WriteSnapRequest writes a TypeSnapshot frame.
func (w *Writer) WriteSnapRequest(r SnapRequest) error {
	if !r.Video.Key || len(r.Data) == 0 {
		return fmt.Errorf("%w: request %d is not a keyframe with a payload", ErrBadSnapshot, r.ID)
	}
	return w.WriteMedia(TypeSnapshot, Media{Source: r.ID, Flags: r.Video.Flags(), Data: r.Data})
}

// ParseSnapResult decodes and checks a TypeSnapResult body: a JPEG
// starts with its SOI marker; an error is short UTF-8 text.
func ParseSnapResult(body []byte) (SnapResult, error) {
	if len(body) < snapResultHeader {
		return SnapResult{}, ErrShortBody
	}
	r := SnapResult{ID: binary.BigEndian.Uint32(body)}
	payload := body[snapResultHeader:]
	switch body[4] {
	case snapOK:
		if len(payload) < 4 || payload[0] != 0xff || payload[1] != 0xd8 {
			return SnapResult{}, fmt.Errorf("%w: result %d is not a JPEG", ErrBadSnapshot, r.ID)
		}
		r.JPEG = payload
	case snapFailed:
		if len(payload) == 0 || len(payload) > MaxSnapError || !utf8.Valid(payload) {
			return SnapResult{}, fmt.Errorf("%w: result %d has an unreadable error", ErrBadSnapshot, r.ID)
		}
		r.Err = string(payload)
	default:
		return SnapResult{}, fmt.Errorf("%w: result %d has status %d", ErrBadSnapshot, r.ID, body[4])
	}
	return r, nil
}

// WriteSnapResult writes a TypeSnapResult frame: the JPEG, or, when
// r.Err is set, the error (cut to MaxSnapError bytes).
func (w *Writer) WriteSnapResult(r SnapResult) error {
	status, payload := byte(snapOK), r.JPEG
	if r.Err != "" {
		status, payload = snapFailed, []byte(truncUTF8(strings.ToValidUTF8(r.Err, "?"), MaxSnapError))
	} else if len(payload) < 4 || payload[0] != 0xff || payload[1] != 0xd8 {
		return fmt.Errorf("%w: result %d is not a JPEG", ErrBadSnapshot, r.ID)
	}
	if snapResultHeader+len(payload) > MaxBody {
		return ErrFrameTooLarge
	}
	h := w.hdr[:5+snapResultHeader]
	h[0] = byte(TypeSnapResult)
	binary.BigEndian.PutUint32(h[1:], uint32(snapResultHeader+len(payload)))
	binary.BigEndian.PutUint32(h[5:], r.ID)
	h[9] = status
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	_, err := w.w.Write(payload)
	return err
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
