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
	"unicode"
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

// DecodeJSON reads one JSON object of at most MaxBodyBytes into v,
// refusing unknown fields, duplicate fields and trailing data. It is the
// one JSON body reader of the HTTP surface.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) *Error {
	return decodeJSON(w, r, v)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *Error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "bad_request", "the body must hold a single JSON object")
	}
	if err := CheckDuplicateKeys(b); err != nil {
		return decodeError(err)
	}
	return nil
}

// CheckDuplicateKeys refuses a JSON text in which an object names a field
// twice: encoding/json would keep the last silently, so that what a
// client's validator saw and what the daemon acts on could differ. Names
// are compared under Unicode case folding, as encoding/json matches them
// to struct fields. A text that is not valid JSON passes: reporting that
// is the decoder's job.
func CheckDuplicateKeys(b []byte) error {
	type frame struct {
		object, wantKey bool
		keys            map[string]struct{}
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			k := foldKey(key)
			if _, dup := top.keys[k]; dup {
				return fmt.Errorf("%w: %q appears twice in one object", ErrDuplicateField, key)
			}
			top.keys[k] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]struct{}{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// foldKey maps every rune of s to the smallest rune it case-folds to.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

func decodeError(err error) *Error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apiError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
	case errors.Is(err, ErrDuplicateField):
		return apiError(http.StatusBadRequest, "duplicate_field", strings.TrimPrefix(err.Error(), ErrDuplicateField.Error()+": "))
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
