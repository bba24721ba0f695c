package loadgen

import "errors"

var (
	// ErrNoFFmpeg means ffmpeg is not installed; media cannot be made.
	ErrNoFFmpeg = errors.New("loadgen: ffmpeg not found on PATH")
	// ErrMedia means the generated media is unusable (lost packets,
	// missing stream).
	ErrMedia = errors.New("loadgen: bad media")
	// ErrAPI means the daemon refused a request.
	ErrAPI = errors.New("loadgen: api request failed")
	// ErrNoParticipants means there is nothing to send.
	ErrNoParticipants = errors.New("loadgen: no participants")
)
