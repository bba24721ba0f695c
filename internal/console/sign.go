package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fileRoute is where signed recording files are served.
const fileRoute = "/v1/recordings/file"

// filePath is the only shape of path a URL may name: a day directory, a
// recording directory and a participant's MP4 (storage.Layout's names).
var filePath = regexp.MustCompile(`^[0-9]{4}_[0-9]{2}_[0-9]{2}/[^/\\\x00]{1,64}_[0-9]{6}(_[0-9]{1,4})?/[0-9]{1,10}_[0-9]{6}(_[0-9]{1,4})?\.mp4$`)

// signer issues and checks file URLs with a key that lives as long as
// the process: a restart invalidates every URL, which is the point of
// short-lived URLs.
type signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

func (s signer) mac(rel string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(rel))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// url returns the signed URL of a file (rel to the recording root).
func (s signer) url(rel string) string {
	exp := s.now().Add(s.ttl).Unix()
	q := url.Values{"path": {rel}, "exp": {strconv.FormatInt(exp, 10)}, "sig": {s.mac(rel, exp)}}
	return fileRoute + "?" + q.Encode()
}

// verify checks a URL's query and returns the path it grants.
func (s signer) verify(q url.Values) (string, error) {
	rel, expStr, sig := q.Get("path"), q.Get("exp"), q.Get("sig")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || rel == "" || sig == "" {
		return "", ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac(rel, exp))) {
		return "", ErrBadSignature
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return "", fmt.Errorf("%w: expired", ErrBadSignature)
	}
	if err := checkRel(rel); err != nil {
		return "", err
	}
	return rel, nil
}

// checkRel refuses anything but a clean relative path of filePath's shape,
// even when signed: the signature proves who made the URL, not that the
// path is safe.
func checkRel(rel string) error {
	if !filePath.MatchString(rel) || path.Clean(rel) != rel || strings.Contains(rel, "\\") {
		return ErrBadPath
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "." || part == ".." {
			return ErrBadPath
		}
	}
	return nil
}
