package session

import "errors"

var (
	// ErrNotRecording means a packet arrived for a channel that is not recording.
	ErrNotRecording = errors.New("channel is not recording")
	// ErrLeft means the participant has left its channel.
	ErrLeft = errors.New("participant has left")
	// ErrClosed means the manager is shutting down.
	ErrClosed = errors.New("session manager is closed")
	// ErrBadUID means a uid outside 1..2^32-1.
	ErrBadUID = errors.New("uid must be between 1 and 4294967295")
	// ErrCaptureUnavailable means the capture file could not be opened; the
	// participant retries after a pause.
	ErrCaptureUnavailable = errors.New("capture file unavailable")
	// ErrTooManyParticipants means a channel is full.
	ErrTooManyParticipants = errors.New("too many participants in channel")
)
