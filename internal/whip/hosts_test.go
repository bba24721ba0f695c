package whip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// candidates lists an SDP's candidates as "proto ip port type".
func candidates(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:")
		if !ok {
			continue
		}
		f := strings.Fields(c)
		if len(f) < 8 {
			continue
		}
		out = append(out, strings.ToLower(f[2])+" "+f[4]+" "+f[5]+" "+f[7])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// noDNS is a resolver that answers from /etc/hosts and sends no query:
// a test must not reach a name server.
func noDNS() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
}

func withResolver(r *net.Resolver) Option { return func(g *Ingest) { g.resolver = r } }

// TestAnswerAnnouncesHosts: every configured host is a candidate on the
// one ICE port, UDP and ICE-TCP, whether or not it is an address of this
// machine (198.51.100.7 is only announced, never contacted: the client
// of this test offers 127.0.0.1 only). A name is resolved at start.
func TestAnswerAnnouncesHosts(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	f := newFixture(t, port, WithHosts("localhost", "198.51.100.7"), withResolver(noDNS()))
	status, loc, answer := f.post("channel=room&uid=9", mediaKey(t, "room", 9), "application/sdp", chromeOffer)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	defer f.do("DELETE", loc)
	p := strconv.Itoa(port)
	want := []string{"tcp 127.0.0.1 " + p + " host", "tcp 198.51.100.7 " + p + " host", "udp 127.0.0.1 " + p + " host", "udp 198.51.100.7 " + p + " host"}
	t.Logf("candidates %q", candidates(answer))
	if got := candidates(answer); !slices.Equal(got, want) {
		t.Fatalf("candidates %q, want %q\n%s", got, want, answer)
	}
}

// TestPublicIPIsOneOfTheHosts: ARS_PUBLIC_IP is announced beside the
// hosts (it used to replace the gathered addresses, and there were none
// to replace on a loopback-only host).
func TestPublicIPIsOneOfTheHosts(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	f := newFixture(t, port, WithPublicIP("203.0.113.9"), WithHosts("127.0.0.1"))
	status, loc, answer := f.post("channel=room&uid=9", mediaKey(t, "room", 9), "application/sdp", chromeOffer)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	defer f.do("DELETE", loc)
	got := candidates(answer)
	for _, c := range []string{"udp 127.0.0.1 ", "udp 203.0.113.9 "} {
		if !slices.Contains(got, c+strconv.Itoa(port)+" host") {
			t.Fatalf("no %s candidate in %q", c, got)
		}
	}
}

// TestLoopbackHostOnUnspecifiedBind is the loopback-only host of the
// finding: the ICE port listens on every address (ARS_BIND empty) and
// 127.0.0.1 is announced, which pion's mux alone never does; pion's
// advice against a mux on an unspecified address is not a warning.
func TestLoopbackHostOnUnspecifiedBind(t *testing.T) {
	checkGoroutines(t)
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	port := freePort(t)
	f := newFixtureOn(t, "", port, log, WithHosts("127.0.0.1"))
	startup := logs.String()
	status, loc, answer := f.post("channel=room&uid=9", mediaKey(t, "room", 9), "application/sdp", chromeOffer)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	defer f.do("DELETE", loc)
	if got := candidates(answer); !slices.Contains(got, "udp 127.0.0.1 "+strconv.Itoa(port)+" host") {
		t.Fatalf("candidates %q:\n%s", got, answer)
	}
	if strings.Contains(logs.String(), "unspecified address") || strings.Contains(startup, "level=WARN") {
		t.Fatalf("warned:\n%s", logs.String())
	}
	if !strings.Contains(startup, "hosts=127.0.0.1") {
		t.Fatalf("start-up log does not name the announced hosts:\n%s", startup)
	}
}

// TestHostsRefusedAtStart: a name that does not resolve, an address of a
// family the port cannot serve and an unspecified address stop Start
// with an error naming the host.
func TestHostsRefusedAtStart(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct {
		host string
		want error
	}{
		{"no-such-host.invalid", ErrUnresolvableHost},
		{"::1", ErrBadHost},
		{"0.0.0.0", ErrBadHost},
		{"224.0.0.1", ErrBadHost},
	} {
		g := New(nil, nil, "127.0.0.1", freePort(t), WithLogger(slog.New(slog.DiscardHandler)), WithHosts(tc.host), withResolver(noDNS()))
		err := g.Start()
		if err == nil {
			g.Close()
			t.Errorf("%s: started", tc.host)
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.host) || !strings.Contains(err.Error(), "ARS_WEBRTC_HOSTS") {
			t.Errorf("%s: error %v, want %v naming the host", tc.host, err, tc.want)
		}
	}
}

func TestResolveHostsFamilies(t *testing.T) {
	both := families{v4: true, v6: true}
	got, err := resolveHosts(context.Background(), noDNS(), []string{"127.0.0.1", "localhost", "::ffff:127.0.0.1", "2001:db8::1"}, both)
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8::1")}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("resolve: %v %v, want %v", got, err, want)
	}
	if _, err := resolveHosts(context.Background(), noDNS(), []string{"localhost"}, families{v6: true}); !errors.Is(err, ErrUnresolvableHost) {
		t.Fatalf("localhost on an IPv6-only port: %v", err)
	}
}

// lockedBuf is a log sink the ingest's goroutines may write to.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
