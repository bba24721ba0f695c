package mixrun

import "errors"

var (
	// ErrNoMixer is an ars-mixer binary that cannot be found.
	ErrNoMixer = errors.New("mixrun: ars-mixer not found (set ARS_MIXER_BIN)")
	// ErrMixerFailed is a mixer that exited without finishing its outputs.
	ErrMixerFailed = errors.New("mixrun: the mixer failed")
	// ErrClosed is a composite used after Close.
	ErrClosed = errors.New("mixrun: closed")
)
