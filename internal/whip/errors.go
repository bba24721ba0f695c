package whip

import "errors"

var (
	// ErrBadOffer means the body is not an SDP offer pion can answer.
	ErrBadOffer = errors.New("not a valid SDP offer")
	// ErrNoRecordableMedia means the offer holds neither video nor audio
	// in a form that is recorded (recordedVideo, Opus).
	ErrNoRecordableMedia = errors.New("offer has no recordable media: H.264 (packetization-mode 1, baseline or main profile), VP8, VP9 (profile 0 or 2) or AV1 (main profile) video, or Opus audio")
	// ErrDisabled means WebRTC ingest is switched off (ARS_WEBRTC_PORT=0).
	ErrDisabled = errors.New("webrtc ingest is disabled")
	// ErrClosed means the ingest is shutting down.
	ErrClosed = errors.New("webrtc ingest is closed")
	// ErrBadHost means an announced host (ARS_WEBRTC_HOSTS, ARS_PUBLIC_IP)
	// can never be a candidate: unspecified, multicast, or of an address
	// family the ICE port does not serve.
	ErrBadHost = errors.New("host cannot be announced as an ICE candidate")
	// ErrUnresolvableHost means a host name of ARS_WEBRTC_HOSTS did not
	// resolve at start.
	ErrUnresolvableHost = errors.New("host name does not resolve")
	// ErrTooManyPending means ARS_WEBRTC_MAX_PENDING WHIP sessions are
	// already waiting for ICE.
	ErrTooManyPending = errors.New("too many WebRTC sessions are waiting for ICE")
	// ErrTooManyPendingFromAddr means the client's address already has
	// ARS_WEBRTC_MAX_PENDING_PER_ADDR sessions waiting for ICE.
	ErrTooManyPendingFromAddr = errors.New("too many WebRTC sessions of this address are waiting for ICE")
)
