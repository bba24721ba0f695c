package mixproto

import (
	"encoding/binary"
	"fmt"
)

// The audio transcoder role (ars-mixer --audio-transcoder) turns Opus
// packets into AAC access units for the MPEG-TS outputs of individual
// recordings. One process serves many streams (one process per cloud
// recording session), each named by a 32-bit id the daemon chooses.
//
// Daemon to transcoder: TypeAACOpen, then any number of TypeAACOpus of
// that stream, then TypeAACClose; TypeEnd flushes every stream and ends
// the process. Transcoder to daemon: TypeReady once, TypeAACConfig once
// per stream before its first unit, TypeAACUnit per access unit,
// TypeAACClosed after a close has flushed the stream's last units,
// TypeAACError when a stream fails (the process goes on), TypeProgress
// about every 500 ms (a heartbeat: the supervisor takes silence for a
// hang), TypeDone after End, TypeError before a non-zero exit.
//
// Every PTS is in nanoseconds on the stream's own clock, the clock of the
// Opus packets' PTS: an AAC unit's PTS is the input time its decoded
// sound belongs at, the encoder's priming already taken off, so a unit's
// sound lines up with the video of the same PTS. The first unit's PTS is
// therefore one frame (1024 samples) before the first packet's.
const (
	TypeAACOpen  Type = 9  // AACOpen, JSON
	TypeAACOpus  Type = 10 // binary media body: one Opus packet (Media.Source = stream id)
	TypeAACClose Type = 11 // AACClose, JSON: flush the stream, answer TypeAACClosed
	// TypeAACSilence is a media body without payload: the stream is
	// silent (no packets will come) up to Media.PTS, so its units run on
	// now instead of when the next packet arrives.
	TypeAACSilence Type = 12

	TypeAACConfig Type = 70 // AACConfig, JSON
	TypeAACUnit   Type = 71 // binary AAC unit body (AACUnit)
	TypeAACClosed Type = 72 // AACClosed, JSON
	TypeAACError  Type = 73 // AACError, JSON
)

// ParseSilence decodes a TypeAACSilence body.
func ParseSilence(body []byte) (Media, error) {
	m, err := ParseMedia(body)
	if err != nil {
		return Media{}, err
	}
	if len(m.Data) != 0 {
		return Media{}, fmt.Errorf("%w: silence with %d bytes", ErrBadUnit, len(m.Data))
	}
	return m, nil
}

// Limits of the transcoder role.
const (
	// MaxOpusPacket bounds an Opus packet: RFC 6716 allows 1275 bytes a
	// frame and 120 ms a packet; an RTP packet never carries more.
	MaxOpusPacket = 8 << 10
	// MaxAACUnit bounds an AAC access unit: 6144 bits a channel
	// (ISO 14496-3 4.5.3), two channels.
	MaxAACUnit = 2 * 768
	// MaxASC bounds an AudioSpecificConfig (LC: 2 bytes; with explicit
	// SBR/PS signalling a few more).
	MaxASC = 64
	// MaxAACStreams bounds the streams one transcoder process holds at
	// once.
	MaxAACStreams = 1024
)

// AAC output rates the transcoder accepts (audioresample converts the
// decoder's 48 kHz).
var aacRates = [...]int{16000, 22050, 24000, 32000, 44100, 48000}

// AACOpen opens a stream (TypeAACOpen).
type AACOpen struct {
	ID uint32 `json:"id"`
	// InputChannels is the Opus stream's channel count as negotiated
	// (opus/48000/2 in SDP is 2 whatever the sender encodes).
	InputChannels int `json:"inputChannels"`
	// Rate, Channels and BitrateKbps are the AAC-LC output's.
	Rate        int `json:"rate"`
	Channels    int `json:"channels"`
	BitrateKbps int `json:"bitrateKbps"`
	// Coder is libavcodec's AAC coding algorithm: "" or CoderTwoLoop
	// (its default, the better sound), CoderFast (about a third less CPU
	// a stream).
	Coder string `json:"coder,omitempty"`
}

// AAC coders (AACOpen.Coder).
const (
	CoderTwoLoop = "twoloop"
	CoderFast    = "fast"
)

// AACClose flushes and ends a stream (TypeAACClose).
type AACClose struct {
	ID uint32 `json:"id"`
}

// AACConfig is a stream's decoder configuration, sent once before its
// first unit (TypeAACConfig).
type AACConfig struct {
	ID       uint32 `json:"id"`
	Rate     int    `json:"rate"`
	Channels int    `json:"channels"`
	// ASC is the AudioSpecificConfig (ISO 14496-3 1.6.2.1), base64 in
	// JSON: what an MP4 esds holds, and what an ADTS header is made of.
	ASC []byte `json:"asc"`
}

// AACClosed reports a stream flushed and gone (TypeAACClosed).
type AACClosed struct {
	ID    uint32 `json:"id"`
	Units int64  `json:"units"` // access units sent over the stream's life
	// Dropped counts the packets the transcoder refused (late, out of
	// order, undecodable size).
	Dropped int64 `json:"dropped"`
}

// AACError reports a stream that failed; it is gone, the process goes on
// (TypeAACError).
type AACError struct {
	ID      uint32 `json:"id"`
	Message string `json:"message"`
}

// Validate checks an open before the transcoder builds anything from it.
func (o *AACOpen) Validate() error {
	if o.InputChannels != 1 && o.InputChannels != 2 {
		return fmt.Errorf("%w: opus input channels %d", ErrBadConfig, o.InputChannels)
	}
	if o.Channels != 1 && o.Channels != 2 {
		return fmt.Errorf("%w: aac channels %d", ErrBadConfig, o.Channels)
	}
	ok := false
	for _, r := range aacRates {
		ok = ok || r == o.Rate
	}
	if !ok {
		return fmt.Errorf("%w: aac rate %d", ErrBadConfig, o.Rate)
	}
	if o.BitrateKbps < 8 || o.BitrateKbps > 256*o.Channels {
		return fmt.Errorf("%w: aac bitrate %d kbit/s for %d channels", ErrBadConfig, o.BitrateKbps, o.Channels)
	}
	if o.Coder != "" && o.Coder != CoderTwoLoop && o.Coder != CoderFast {
		return fmt.Errorf("%w: aac coder %q", ErrBadConfig, o.Coder)
	}
	return nil
}

// Validate checks a config the transcoder sent.
func (c *AACConfig) Validate() error {
	if c.Channels != 1 && c.Channels != 2 {
		return fmt.Errorf("%w: aac config channels %d", ErrBadConfig, c.Channels)
	}
	if c.Rate < 8000 || c.Rate > 96000 {
		return fmt.Errorf("%w: aac config rate %d", ErrBadConfig, c.Rate)
	}
	if len(c.ASC) < 2 || len(c.ASC) > MaxASC {
		return fmt.Errorf("%w: audio specific config of %d bytes", ErrBadConfig, len(c.ASC))
	}
	return nil
}

// aacHeader is the fixed part of an AAC unit body: id, pts, duration.
const aacHeader = 4 + 8 + 8

// AACUnit is one AAC access unit (TypeAACUnit): a raw frame, no ADTS
// header. Its body is a 4-byte big-endian stream id, an 8-byte PTS and
// an 8-byte duration, both in nanoseconds, then the frame. Data aliases
// the reader's buffer until the next ReadFrame.
type AACUnit struct {
	ID       uint32
	PTS      int64
	Duration int64
	Data     []byte
}

// ParseAACUnit decodes a TypeAACUnit body. It refuses a unit that is
// empty, larger than MaxAACUnit or of a duration that is not positive.
func ParseAACUnit(body []byte) (AACUnit, error) {
	if len(body) < aacHeader {
		return AACUnit{}, ErrShortBody
	}
	u := AACUnit{
		ID:       binary.BigEndian.Uint32(body),
		PTS:      int64(binary.BigEndian.Uint64(body[4:])),
		Duration: int64(binary.BigEndian.Uint64(body[12:])),
		Data:     body[aacHeader:],
	}
	if len(u.Data) == 0 || len(u.Data) > MaxAACUnit {
		return AACUnit{}, fmt.Errorf("%w: aac unit of %d bytes", ErrBadUnit, len(u.Data))
	}
	if u.Duration <= 0 || u.Duration > int64(1e9) {
		return AACUnit{}, fmt.Errorf("%w: aac unit duration %d ns", ErrBadUnit, u.Duration)
	}
	return u, nil
}

// WriteAACUnit writes an AAC unit.
func (w *Writer) WriteAACUnit(u AACUnit) error {
	if len(u.Data) == 0 || len(u.Data) > MaxAACUnit {
		return fmt.Errorf("%w: aac unit of %d bytes", ErrBadUnit, len(u.Data))
	}
	h := w.hdr[:5+aacHeader]
	h[0] = byte(TypeAACUnit)
	binary.BigEndian.PutUint32(h[1:], uint32(aacHeader+len(u.Data)))
	binary.BigEndian.PutUint32(h[5:], u.ID)
	binary.BigEndian.PutUint64(h[9:], uint64(u.PTS))
	binary.BigEndian.PutUint64(h[17:], uint64(u.Duration))
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	_, err := w.w.Write(u.Data)
	return err
}

// ParseOpus decodes a TypeAACOpus body: a media body whose payload is one
// Opus packet of 1..MaxOpusPacket bytes.
func ParseOpus(body []byte) (Media, error) {
	m, err := ParseMedia(body)
	if err != nil {
		return Media{}, err
	}
	if len(m.Data) == 0 || len(m.Data) > MaxOpusPacket {
		return Media{}, fmt.Errorf("%w: opus packet of %d bytes", ErrBadUnit, len(m.Data))
	}
	return m, nil
}
