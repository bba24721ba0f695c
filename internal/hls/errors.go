package hls

import "errors"

var (
	// ErrClosed means the track was closed.
	ErrClosed = errors.New("hls: track closed")
	// ErrCodec means the track's codec is not a recorded video codec
	// (H.264, VP8, VP9, AV1) or Opus audio.
	ErrCodec = errors.New("hls: unsupported codec")
	// ErrPlaylist means a playlist left by an earlier run cannot be
	// resumed.
	ErrPlaylist = errors.New("hls: playlist cannot be resumed")
	// ErrNoMedia means the track was closed before any sample was usable.
	ErrNoMedia = errors.New("hls: no media")
	// ErrAACConfig means an AAC track has no AudioSpecificConfig yet
	// (Track.SetAACConfig), or was given one MPEG-TS cannot carry.
	ErrAACConfig = errors.New("hls: bad or missing AAC configuration")
)
