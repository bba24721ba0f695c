package webhook

import "errors"

var (
	// ErrClosed means the notifier was closed.
	ErrClosed = errors.New("webhook: notifier closed")
	// ErrStatus means the receiver did not answer 200.
	ErrStatus = errors.New("webhook: receiver did not answer 200")
)
