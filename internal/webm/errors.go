package webm

import "errors"

// Errors of Create and the writers.
var (
	// ErrNoTracks means neither a video nor an audio track was given.
	ErrNoTracks = errors.New("webm: no tracks")
	// ErrCodec means the video codec has no WebM mapping (H.264).
	ErrCodec = errors.New("webm: codec not allowed in WebM")
	// ErrNoTrack means a frame was written to a track the file lacks.
	ErrNoTrack = errors.New("webm: the file has no such track")
)
