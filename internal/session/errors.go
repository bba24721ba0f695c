package session

import "errors"

var (
	// ErrNotRecording means a packet was dropped: its channel does not record
	// and no sink (a cloud recording, a live composite) takes its packets.
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
	// ErrCaptureQueueFull means a packet arrived while its capture file was
	// being opened and the participant's wait queue was full: it is dropped
	// (and counted).
	ErrCaptureQueueFull = errors.New("capture queue full while the file opens")
	// ErrTooManyJoins means the client address has as many participants
	// joined as it may (ARS_MAX_JOINS_PER_IP).
	ErrTooManyJoins = errors.New("too many participants joined from this address")
	// ErrServerFull means the server holds as many participants as it may
	// (ARS_MAX_PARTICIPANTS).
	ErrServerFull = errors.New("too many participants on this server")
	// ErrTooManyChannels means the server holds as many channels as it may
	// (ARS_MAX_CHANNELS).
	ErrTooManyChannels = errors.New("too many channels on this server")
)
