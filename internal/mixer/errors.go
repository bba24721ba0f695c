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

var (
	// ErrWebEnv is a web recorder whose X server, sound server or browser
	// could not start.
	ErrWebEnv = errors.New("mixer: web recorder environment")
	// ErrWebNotReady is a page that did not draw within its ready timeout.
	ErrWebNotReady = errors.New("mixer: the web page did not become ready")
	// ErrWebMemory is a page over its memory limit.
	ErrWebMemory = errors.New("mixer: the web page exceeded its memory limit")
	// ErrWebBrowserExited is a browser that exited during the recording.
	ErrWebBrowserExited = errors.New("mixer: the browser exited")
)
