package aacproc

import "errors"

var (
	// ErrStream is a stream open that cannot be served (a repeated id,
	// too many streams, a pipeline that cannot be built).
	ErrStream = errors.New("aacproc: stream refused")
	// ErrPipeline is a GStreamer pipeline that failed.
	ErrPipeline = errors.New("aacproc: pipeline failed")
	// ErrFlush is an end whose streams did not all flush in time.
	ErrFlush = errors.New("aacproc: streams not flushed in time")
)
