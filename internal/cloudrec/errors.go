package cloudrec

import (
	"encoding/json"
	"errors"
	"net/http"
)

// ErrClosed means the service was closed.
var ErrClosed = errors.New("cloudrec: closed")

// Agora's error codes (the "code" of an error body), as its common
// errors page numbers them.
const (
	codeInvalidParam   = 2
	codeResourceReused = 7
	// codeRepeatedStop answers a stop of a recording a stop already
	// ended.
	codeRepeatedStop = 49
	codeDuplicate    = 53
	// codeNotEnabled is Agora's "service not enabled": here, mix mode
	// without an ars-mixer.
	codeNotEnabled = 62
	// codeNotCompleted (HTTP 206) says the request could not be
	// completed in time: a stop whose uploads run on past the wait.
	// Repeating it with the same resource ID and sid gets the answer.
	codeNotCompleted   = 65
	codeTokenExpired   = 109
	codeTokenInvalid   = 110
	codeNotFound       = 404
	codeMismatch       = 432
	codeResourceExpiry = 433
	codeNoFile         = 435
	// codeExiting is Agora's "the recording service is exiting": ars is
	// shutting down.
	codeExiting = 501
	// codeBadResourceID: a resource ID that is not one ars could have
	// issued (the wrong length or alphabet).
	codeBadResourceID = 1001
	// codeSIDMismatch: the sid exists but belongs to another resource
	// ID.
	codeSIDMismatch = 1003
	codeBadCname    = 1013
	// codeBadLayout is Agora's answer to an updateLayout body it cannot
	// use.
	codeBadLayout = 1028
	// codeTooMany is Agora's rate-limit code; ars gives it, with HTTP
	// 429, when a cap on resources or recordings is reached.
	codeTooMany = 429
)

// Agora's gateway messages: answers with {"message"} and no code, from
// in front of the recording service.
const (
	msgNoRoute      = "no Route matched with those values"
	msgBadAuth      = "Invalid authentication credentials"
	msgUnauthorized = "Unauthorized"
	msgRateLimit    = "API rate limit exceeded"
)

// apiError is an Agora error answer: an HTTP status and {code, reason},
// or, for the gateway's answers, {message}.
type apiError struct {
	status int
	code   int
	reason string
	// message, when set, makes this a gateway answer: {"message"}.
	message string
	// body, when set, is sent instead of {code, reason} (Agora's 404 of
	// a known recording, which names it).
	body any
}

func (e *apiError) Error() string {
	if e.message != "" {
		return e.message
	}
	return e.reason
}

func invalid(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidParam, reason: reason}
}

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, reason: "failed to find worker"}
}

// mismatch is Agora's 432: a parameter that does not match the resource
// or recording it names.
func mismatch(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeMismatch, reason: reason}
}

// exiting is the answer of every request while the service closes.
func exiting() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeExiting, reason: "the recording service is exiting (the server is shutting down); retry on the next instance"}
}

// gateway is an answer of Agora's gateway: {"message"} only.
func gateway(status int, message string) *apiError {
	return &apiError{status: status, message: message}
}

// notFoundBody is Agora's 404 for a recording it knew: the recording's
// identifiers, the code, and what was asked.
type notFoundBody struct {
	Cname          string `json:"cname"`
	UID            string `json:"uid"`
	ResourceID     string `json:"resourceId"`
	SID            string `json:"sid"`
	Code           int    `json:"code"`
	Reason         string `json:"reason"`
	ServerResponse struct {
		Command string `json:"command"`
	} `json:"serverResponse"`
}

// notFoundOf is the 404 of a known recording's query, update,
// updateLayout or stop (command).
func notFoundOf(cname, uid, rid, sid, command string) *apiError {
	e := notFound()
	b := notFoundBody{Cname: cname, UID: uid, ResourceID: rid, SID: sid, Code: e.code, Reason: e.reason}
	b.ServerResponse.Command = command
	e.body = b
	return e
}

// Cap names: the label values of ars_cloud_limit_refused_total.
const (
	limitResources = "resources"
	limitSessions  = "sessions"
	limitChannel   = "channel"
	limitMixes     = "mixes"
	// limitRate: a request over ARS_CLOUD_RATE_LIMIT.
	limitRate = "rate"
)

func tooMany(reason string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeTooMany, reason: reason}
}

// writeJSON sends v with Agora's content type. Every answer of the API,
// errors and gateway answers included, goes through it (and carries the
// X-Request-Id its handler set).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends e: {message} for a gateway answer, its own body when
// it has one, {code, reason} otherwise.
func writeError(w http.ResponseWriter, e *apiError) {
	switch {
	case e.message != "":
		writeJSON(w, e.status, map[string]string{"message": e.message})
	case e.body != nil:
		writeJSON(w, e.status, e.body)
	default:
		writeJSON(w, e.status, map[string]any{"code": e.code, "reason": e.reason})
	}
}
