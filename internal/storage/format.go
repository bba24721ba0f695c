package storage

import (
	"hash/crc32"
	"time"
)

// Magic opens every capture file. The last byte is the format version.
const Magic = "ARSCAP\x00\x01"

// FormatVersion is the version written in the JSON header.
const FormatVersion = 1

const (
	// recordHeaderSize is kind(1) flags(1) length(2) arrival-ns(8).
	recordHeaderSize = 12
	// recordTrailerSize is the CRC-32C of header and payload.
	recordTrailerSize = 4
	// MaxRecordPayload bounds a record payload (fits the u16 length field).
	MaxRecordPayload = 65535
	// maxHeaderJSON bounds the JSON header so a hostile file cannot make
	// the reader allocate without limit.
	maxHeaderJSON = 1 << 20
)

// castagnoli is the CRC-32C table; hardware accelerated on amd64/arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32Record is the CRC-32C a record's trailer holds: of its header and
// payload.
func crc32Record(head, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, head), castagnoli, payload)
}

// RecordKind says what a record's payload is.
type RecordKind uint8

const (
	// RecordRTP is one RTP packet exactly as received.
	RecordRTP RecordKind = 1
	// RecordRTCP is one RTCP (compound) packet exactly as received.
	RecordRTCP RecordKind = 2
	// RecordStream is a JSON StreamInfo declaring a stream that appeared
	// after the header was written (a new SSRC, a WebRTC track).
	RecordStream RecordKind = 3
)

func (k RecordKind) String() string {
	switch k {
	case RecordRTP:
		return "rtp"
	case RecordRTCP:
		return "rtcp"
	case RecordStream:
		return "stream"
	default:
		return "unknown"
	}
}

// Media kinds of a stream.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// Codec names as they appear in the header (SDP spelling).
const (
	CodecH264 = "H264"
	CodecVP8  = "VP8"
	CodecVP9  = "VP9"
	CodecAV1  = "AV1"
	CodecOpus = "opus"
)

// HeaderExtension is one RTP header extension a stream was negotiated
// with (SDP a=extmap, RFC 8285): the ID its packets use and what it is.
// The converter reads the camera orientation (urn:3gpp:video-orientation)
// through it.
type HeaderExtension struct {
	ID  uint8  `json:"id"`
	URI string `json:"uri"`
}

// StreamInfo describes one RTP stream of a participant.
type StreamInfo struct {
	SSRC        uint32 `json:"ssrc"`
	PayloadType uint8  `json:"payloadType"`
	Kind        string `json:"kind"`
	Codec       string `json:"codec"`
	ClockRate   uint32 `json:"clockRate"`
	Channels    uint16 `json:"channels,omitempty"`
	Fmtp        string `json:"fmtp,omitempty"`
	// Extensions are the stream's RTP header extensions (older captures
	// have none).
	Extensions []HeaderExtension `json:"extensions,omitempty"`
}

// ExtensionID returns the ID of the header extension with the given URI,
// or 0 (no extension uses ID 0).
func (s StreamInfo) ExtensionID(uri string) uint8 {
	for _, e := range s.Extensions {
		if e.URI == uri {
			return e.ID
		}
	}
	return 0
}

// Header is the self-description at the start of every capture.
type Header struct {
	Version int    `json:"version"`
	Channel string `json:"channel"`
	UID     uint32 `json:"uid"`
	// Start is the wall-clock time that record arrival offsets count from.
	Start time.Time `json:"start"`
	// Source says how the media arrived: "rtp" or "webrtc".
	Source  string       `json:"source,omitempty"`
	Tag     string       `json:"tag,omitempty"`
	Streams []StreamInfo `json:"streams"`
}

// Record is one framed entry of a capture. Data is only valid until the
// next call to Reader.Next.
type Record struct {
	Kind RecordKind
	// At is the arrival time relative to Header.Start.
	At   time.Duration
	Data []byte
}
