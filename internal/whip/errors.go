package whip

import "errors"

var (
	// ErrBadOffer means the body is not an SDP offer pion can answer.
	ErrBadOffer = errors.New("not a valid SDP offer")
	// ErrNoRecordableMedia means the offer holds neither H.264 video nor
	// Opus audio in a form that is recorded.
	ErrNoRecordableMedia = errors.New("offer has no H.264 (packetization-mode 1, baseline or main profile) or Opus media")
	// ErrDisabled means WebRTC ingest is switched off (ARS_WEBRTC_PORT=0).
	ErrDisabled = errors.New("webrtc ingest is disabled")
	// ErrClosed means the ingest is shutting down.
	ErrClosed = errors.New("webrtc ingest is closed")
)
