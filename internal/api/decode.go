package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// UID is a user ID accepted as a JSON number or a decimal string, in
// 1..2^32-1 as Agora defines it.
type UID uint32

// UnmarshalJSON accepts 42 and "42".
func (u *UID) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return errBadUID
		}
		s = str
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > 1<<32-1 {
		return errBadUID
	}
	*u = UID(n)
	return nil
}

var errBadUID = errors.New("uid must be a whole number from 1 to 4294967295")

// decodeJSON reads one JSON object of at most MaxBodyBytes into v,
// refusing unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *Error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return apiError(http.StatusBadRequest, "bad_request", "the body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error) *Error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apiError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
	case errors.Is(err, errBadUID):
		return apiError(http.StatusBadRequest, "invalid_uid", errBadUID.Error())
	case errors.Is(err, io.EOF):
		return apiError(http.StatusBadRequest, "bad_request", "the body is empty")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return apiError(http.StatusBadRequest, "bad_request", "the body is not valid JSON")
	case errors.As(err, &typ):
		return apiError(http.StatusBadRequest, "bad_request", fmt.Sprintf("field %q has the wrong type", typ.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return apiError(http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return apiError(http.StatusBadRequest, "bad_request", "the body could not be read as JSON")
	}
}
