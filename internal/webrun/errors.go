package webrun

import "errors"

var (
	// ErrClosed is a Recorder used after Close.
	ErrClosed = errors.New("webrun: recorder closed")
	// ErrRecorderFailed is a recorder process that exited before its end
	// or hung.
	ErrRecorderFailed = errors.New("webrun: web recorder failed")
	// ErrBadURL is a page URL that is not an http(s) URL.
	ErrBadURL = errors.New("webrun: invalid page URL")
)
