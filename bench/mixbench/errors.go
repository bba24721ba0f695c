package mixbench

import "errors"

var (
	// ErrMedia is an input ffmpeg could not make or this package could
	// not split.
	ErrMedia = errors.New("mixbench: media")
	// ErrMixer is an ars-mixer that failed to start, reported an error
	// or exited before Done.
	ErrMixer = errors.New("mixbench: mixer")
	// ErrOutput is a composite whose output fails a check.
	ErrOutput = errors.New("mixbench: output")
	// ErrNoMixer is a missing ars-mixer binary.
	ErrNoMixer = errors.New("mixbench: ars-mixer binary not found")
)
