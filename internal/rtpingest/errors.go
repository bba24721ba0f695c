package rtpingest

import "errors"

var (
	// ErrSSRCInUse means every port already routes one of the requested SSRCs.
	ErrSSRCInUse = errors.New("ssrc already in use on every rtp port")
	// ErrNoStreams means a join declared no stream.
	ErrNoStreams = errors.New("at least one stream is required")
	// ErrDuplicateSSRC means a join declared one SSRC twice.
	ErrDuplicateSSRC = errors.New("duplicate ssrc in join")
	// ErrNoSuchPort means AtPort named a port the engine does not have
	// (the RTP range changed across a restart).
	ErrNoSuchPort = errors.New("no such rtp port")
	// ErrClosed means the engine is shut down.
	ErrClosed = errors.New("rtp ingest is closed")
)
