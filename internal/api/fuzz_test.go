package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ars-project/ars/internal/storage"
)

// decodeTargets are the request types the JSON endpoints decode into.
var decodeTargets = []func() any{
	func() any { return &recordingRequest{} },
	func() any { return &joinRequest{} },
}

// FuzzDecodeJSON sends arbitrary bodies through the decoding every JSON
// endpoint uses. A body is either refused with a 400 or 413 carrying a
// code and a sentence, or decoded into a value that holds only in-range
// uids, survives a round trip, and whose streams validate without panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"channel":"a","uid":1,"key":"004k"}`,
		`{"channel":"a","uid":"4294967295","key":"k","tag":"t"}`,
		`{"channel":"a","uid":0,"key":"k"}`,
		`{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"payloadType":96,"codec":"H264","clockRate":90000,"fmtp":"packetization-mode=1"},{"ssrc":2,"payloadType":111,"codec":"opus","channels":2}]}`,
		`{"channel":"a","uid":1,"admin":true}`,
		`{"channel":"a"}{"channel":"b"}`,
		`[1,2,3]`,
		`{"uid":1e3}`,
		`{"streams":[{"ssrc":-1}]}`,
		`{"channel":"a","uid":1,"key":"k","channel":"b"}`,
		`{"channel":"a","uid":1,"key":"k","CHANNEL":"b"}`,
		`{"channel":"a","uid":1,"key":"k","streams":[{"ssrc":1,"ssrc":2}]}`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if json.Valid(body) {
			if got, want := CheckDuplicateKeys(body) != nil, refHasDuplicate(body); got != want {
				t.Fatalf("CheckDuplicateKeys says %v, the reference %v, for %q", got, want, body)
			}
		}
		for _, target := range decodeTargets {
			v := target()
			e := decode(body, v)
			if e == nil && refHasDuplicate(body) {
				t.Fatalf("accepted %q with a duplicate field", body)
			}
			if e != nil {
				if e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d for %q", e.Status, body)
				}
				if e.Code == "" || e.Message == "" {
					t.Fatalf("error without code or message: %+v", e)
				}
				if e.Status == http.StatusRequestEntityTooLarge && len(body) <= MaxBodyBytes {
					t.Fatalf("413 for a body of %d bytes", len(body))
				}
				continue
			}
			if len(body) > MaxBodyBytes {
				t.Fatalf("accepted a body of %d bytes", len(body))
			}
			var uid *UID
			switch req := v.(type) {
			case *recordingRequest:
				uid = req.UID
			case *joinRequest:
				uid = req.UID
				for _, sr := range req.Streams {
					info, err := sr.streamInfo()
					if err != nil {
						continue
					}
					if info.PayloadType > 127 || (info.Codec != storage.CodecH264 && info.Codec != storage.CodecOpus) {
						t.Fatalf("stream accepted: %+v", info)
					}
				}
			}
			if uid != nil && *uid == 0 {
				t.Fatalf("uid 0 accepted from %q", body)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", v, err)
			}
			w := target()
			if e := decode(again, w); e != nil {
				t.Fatalf("round trip of %q as %s: %v", body, again, e)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("round trip changed %+v into %+v", v, w)
			}
		}
	})
}

// refHasDuplicate is a second, recursive way to find a field named twice
// in one object (names compared as strings.EqualFold does).
func refHasDuplicate(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	var keys []string
	for dec.More() {
		if tok == json.Delim('{') {
			kt, err := dec.Token()
			if err != nil {
				return false
			}
			k, _ := kt.(string)
			for _, seen := range keys {
				if strings.EqualFold(seen, k) {
					return true
				}
			}
			keys = append(keys, k)
		} else if tok != json.Delim('[') {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if refHasDuplicate(v) {
			return true
		}
	}
	return false
}

func decode(body []byte, v any) *Error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	return decodeJSON(httptest.NewRecorder(), r, v)
}

// FuzzUID: a uid is accepted exactly when it is a decimal number or
// decimal string in 1..2^32-1.
func FuzzUID(f *testing.F) {
	for _, s := range []string{`1`, `"1"`, `4294967295`, `4294967296`, `0`, `-1`, `1.0`, `"0x10"`, `" 7"`, `null`, `"\u0031"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var u UID
		err := u.UnmarshalJSON(b)
		if err != nil {
			if u != 0 {
				t.Fatalf("failed decode of %q changed the uid to %d", b, u)
			}
			return
		}
		if u == 0 {
			t.Fatalf("%q decoded to uid 0", b)
		}
		var back UID
		if err := back.UnmarshalJSON([]byte(strconv.FormatUint(uint64(u), 10))); err != nil || back != u {
			t.Fatalf("%d does not read back: %d %v", u, back, err)
		}
	})
}
