package cloudrec

import (
	"errors"
	"net/http"
)

// ErrClosed means the service was closed.
var ErrClosed = errors.New("cloudrec: closed")

// Agora's error codes (the "code" of an error body).
const (
	codeInvalidParam   = 2
	codeResourceReused = 7
	codeTokenExpired   = 109
	codeTokenInvalid   = 110
	codeResourceExpiry = 433
	codeNoFile         = 435
	codeDuplicate      = 53
	codeNotFound       = 404
	// codeBadLayout is Agora's answer to an updateLayout body it cannot
	// use.
	codeBadLayout = 1028
	// codeMismatch is Agora's "parameter mismatch": a request's mode is
	// not the recording's.
	codeMismatch = 432
	// codeNotEnabled is Agora's "service not enabled": here, mix mode
	// without an ars-mixer.
	codeNotEnabled = 62
	// codeTooMany is Agora's rate-limit code; ars gives it, with HTTP
	// 429, when a cap on resources or recordings is reached.
	codeTooMany = 429
)

// apiError is an Agora error answer: an HTTP status and {code, reason}.
type apiError struct {
	status int
	code   int
	reason string
}

func (e *apiError) Error() string { return e.reason }

func invalid(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidParam, reason: reason}
}

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, reason: "failed to find worker"}
}

// Cap names: the label values of ars_cloud_limit_refused_total.
const (
	limitResources = "resources"
	limitSessions  = "sessions"
	limitChannel   = "channel"
	limitMixes     = "mixes"
)

func tooMany(reason string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeTooMany, reason: reason}
}
