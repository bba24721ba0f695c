package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

// ErrDuplicateField means a JSON body names a field twice in one object.
var ErrDuplicateField = errors.New("duplicate field")

// Error is an API error: an HTTP status, a stable code and a sentence.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as a Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func apiError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// KeyError maps a key verification failure to its API error.
func KeyError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) { // a check that names its own answer
		return ae
	}
	switch {
	case errors.Is(err, rdk.ErrExpired):
		return apiError(http.StatusUnauthorized, "key_expired", "the key has expired or is not valid yet")
	case errors.Is(err, rdk.ErrWrongApp):
		return apiError(http.StatusForbidden, "wrong_app", "the key was issued for another app ID")
	case errors.Is(err, rdk.ErrWrongChannelOrUID):
		return apiError(http.StatusForbidden, "wrong_channel_or_uid", "the key was issued for another channel or uid")
	case errors.Is(err, rdk.ErrWrongService):
		return apiError(http.StatusForbidden, "wrong_service", "the key is valid but not for this service")
	case errors.Is(err, rdk.ErrNoPrivilege):
		return apiError(http.StatusForbidden, "no_privilege", "the key lacks the privilege to join the channel")
	default:
		return apiError(http.StatusUnauthorized, "invalid_key", "the key is malformed or its signature does not match this channel and uid")
	}
}

// SessionError maps the session manager's and the RTP engine's errors to
// API errors: the one home of those answers, for every ingest.
func SessionError(err error) *Error {
	switch {
	case errors.Is(err, storage.ErrBadChannelName):
		return apiError(http.StatusBadRequest, "invalid_channel", err.Error())
	case errors.Is(err, session.ErrBadUID):
		return apiError(http.StatusBadRequest, "invalid_uid", err.Error())
	case errors.Is(err, session.ErrClosed), errors.Is(err, rtpingest.ErrClosed):
		return apiError(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	case errors.Is(err, session.ErrTooManyParticipants):
		return apiError(http.StatusConflict, "channel_full", err.Error())
	case errors.Is(err, session.ErrTooManyJoins):
		return &Error{Status: http.StatusTooManyRequests, Code: "too_many_joins", Message: err.Error(), RetryAfter: 30 * time.Second}
	case errors.Is(err, session.ErrServerFull):
		return &Error{Status: http.StatusServiceUnavailable, Code: "server_full", Message: err.Error(), RetryAfter: 30 * time.Second}
	case errors.Is(err, session.ErrTooManyChannels):
		return &Error{Status: http.StatusServiceUnavailable, Code: "too_many_channels", Message: err.Error(), RetryAfter: 30 * time.Second}
	case errors.Is(err, rtpingest.ErrSSRCInUse):
		return apiError(http.StatusConflict, "ssrc_in_use", err.Error())
	case errors.Is(err, rtpingest.ErrNoStreams), errors.Is(err, rtpingest.ErrDuplicateSSRC):
		return apiError(http.StatusBadRequest, "invalid_streams", err.Error())
	default:
		return apiError(http.StatusInternalServerError, "internal", "the server could not complete the request")
	}
}

// WriteError sends err as a JSON error answer.
func WriteError(w http.ResponseWriter, err *Error) {
	if err.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(err.RetryAfter.Seconds()+0.999)))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = err.Code, err.Message
	writeJSON(w, err.Status, body)
}

// rawError renders err as a whole HTTP/1.1 response that closes the
// connection, for writing where no http.ResponseWriter exists (a
// connection refused at accept).
func rawError(err *Error) []byte {
	var body errorBody
	body.Error.Code, body.Error.Message = err.Code, err.Message
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		err.Status, http.StatusText(err.Status), len(b))
	return append([]byte(head), b...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
