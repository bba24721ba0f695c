package mixer

import "errors"

var (
	// ErrNoConfig is a stream whose first frame is not a Config.
	ErrNoConfig = errors.New("mixer: the first frame must be a config")
	// ErrTooManySources is a join beyond MaxSources.
	ErrTooManySources = errors.New("mixer: too many sources")
	// ErrPipeline is a GStreamer pipeline that failed.
	ErrPipeline = errors.New("mixer: pipeline failed")
	// ErrFinalise is an end that did not finish in time.
	ErrFinalise = errors.New("mixer: outputs not finalised in time")
)

// MaxSources bounds the sources of one composite over its life.
const MaxSources = 64
