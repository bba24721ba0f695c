package cluster

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseURL reads ARS_CLUSTER_REDIS with go-redis's own parser
// (redis://[user:pass@]host:port/db, rediss:// for TLS). Its errors never
// hold the URL: url.Parse's would, password included.
func ParseURL(s string) (*redis.Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrBadURL)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%w: scheme %q, want redis or rediss", ErrBadURL, u.Scheme)
	}
	opts, err := redis.ParseURL(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadURL, Redact(s, err.Error()))
	}
	return opts, nil
}

// RedactURL is the URL with its password replaced, for logs.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Redact replaces the URL's password (raw and escaped) in msg.
func Redact(rawURL, msg string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Without a parse, the whole URL is the only thing known secret.
		return strings.ReplaceAll(msg, rawURL, "(redis URL)")
	}
	msg = strings.ReplaceAll(msg, rawURL, u.Redacted())
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
		if e := url.QueryEscape(p); e != p {
			msg = strings.ReplaceAll(msg, e, "xxxxx")
		}
	}
	return msg
}

// redactedErr hides the password in an error's message while keeping its
// chain for errors.Is.
type redactedErr struct {
	err    error
	rawURL string
}

func (e redactedErr) Error() string { return Redact(e.rawURL, e.err.Error()) }
func (e redactedErr) Unwrap() error { return e.err }
