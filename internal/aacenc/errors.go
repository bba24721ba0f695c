package aacenc

import "errors"

var (
	// ErrNoBinary is an ars-mixer binary that cannot be found.
	ErrNoBinary = errors.New("aacenc: ars-mixer not found (set ARS_MIXER_BIN)")
	// ErrClosed is a transcoder or stream used after Close.
	ErrClosed = errors.New("aacenc: closed")
	// ErrTooManyStreams is an Open beyond WithMaxStreams.
	ErrTooManyStreams = errors.New("aacenc: too many streams")
	// ErrStreamOpen is an Open of an id already open.
	ErrStreamOpen = errors.New("aacenc: stream already open")
	// ErrBusy is a control frame (open, close) that found the queue full
	// for too long: the child is not keeping up.
	ErrBusy = errors.New("aacenc: transcoder queue full")
	// ErrChildFailed is a transcoder process that died or hung; a
	// stream flushing in it lost its last units.
	ErrChildFailed = errors.New("aacenc: transcoder process failed")
	// ErrStreamFailed is a stream the transcoder gave up (an AACError).
	ErrStreamFailed = errors.New("aacenc: stream failed")
)
