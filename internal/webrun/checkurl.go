package webrun

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/netguard"
)

// CheckURL refuses a page URL before any recorder starts: not http(s),
// with credentials, or naming (or resolving to) a loopback, private,
// link-local or otherwise refused address, or one of the daemon's own
// ports, unless guard's allow-list allows it. It is the early, clear
// answer for the API; the recorder's proxy checks every connection of the
// page again (redirects, sub-resources, IP literals, DNS rebinding).
func CheckURL(ctx context.Context, guard *netguard.Guard, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: %q", ErrBadURL, raw)
	}
	if err := guard.CheckURL(ctx, "web page", u); err != nil {
		return fmt.Errorf("webrun: %w", err)
	}
	return nil
}

// CheckRTMPURL refuses an RTMP push target (rtmp_publish_service's
// rtmpUrl) as CheckURL does a page: not rtmp(s), with credentials, or a
// refused address. The recorder checks it again before it connects.
func CheckRTMPURL(ctx context.Context, guard *netguard.Guard, raw string) error {
	u, err := mixproto.CheckRTMPURL(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"rtmp": "1935", "rtmps": "443"}[u.Scheme]
	}
	if err := guard.CheckHost(ctx, "rtmp push", net.JoinHostPort(u.Hostname(), port)); err != nil {
		return fmt.Errorf("webrun: %w", err)
	}
	return nil
}
