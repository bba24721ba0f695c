package sysd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listenNotify creates the datagram socket systemd would, and points
// NOTIFY_SOCKET at it.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// next reads one message, failing after timeout.
func next(t *testing.T, conn *net.UnixConn, timeout time.Duration) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message: %v", err)
	}
	return string(buf[:n])
}

// none requires that no message is queued.
func none(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("unexpected message %q", buf[:n])
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// scripted is a health check returning results in order; the call after
// the last one blocks until release is closed, so the test knows that no
// ping is in flight.
type scripted struct {
	results []bool
	calls   chan int
	release chan struct{}
	n       int
}

func newScripted(results ...bool) *scripted {
	return &scripted{results: results, calls: make(chan int, 64), release: make(chan struct{})}
}

func (s *scripted) check() bool {
	s.n++
	s.calls <- s.n
	if s.n > len(s.results) {
		<-s.release
		return true
	}
	return s.results[s.n-1]
}

// TestWatchdogPingsOnlyWhileHealthy: one WATCHDOG=1 per passing check,
// none for a failing one, and none once STOPPING=1 was sent, even for a
// check that passed.
func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	conn := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "20000") // a check every 10ms
	t.Setenv("WATCHDOG_PID", "")
	n := New(quietLogger())
	n.Ready()
	if got := next(t, conn, 5*time.Second); got != "READY=1" {
		t.Fatalf("first message %q, want READY=1", got)
	}
	h := newScripted(true, true, false, false, true)
	stop := n.Watchdog(context.Background(), h.check)
	for c := range h.calls {
		if c == len(h.results)+1 {
			break // the pinger is now blocked inside the last check
		}
	}
	passes := 0
	for _, r := range h.results {
		if r {
			passes++
		}
	}
	for i := 0; i < passes; i++ {
		if got := next(t, conn, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("message %d: %q, want WATCHDOG=1", i, got)
		}
	}
	none(t, conn)
	n.Stopping()
	if got := next(t, conn, 5*time.Second); got != "STOPPING=1" {
		t.Fatalf("got %q, want STOPPING=1", got)
	}
	close(h.release) // this check passes, after STOPPING=1
	stop()
	none(t, conn)
}

func TestWatchdogDisabled(t *testing.T) {
	tests := []struct {
		name, usec, pid string
	}{
		{"no WATCHDOG_USEC", "", ""},
		{"another process is watched", "20000", strconv.Itoa(os.Getpid() + 1)},
		{"malformed WATCHDOG_USEC", "soon", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listenNotify(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			called := make(chan struct{}, 1)
			stop := New(quietLogger()).Watchdog(context.Background(), func() bool {
				called <- struct{}{}
				return true
			})
			stop()
			select {
			case <-called:
				t.Fatal("health checked although the watchdog is off")
			default:
			}
			none(t, conn)
		})
	}
}

// Outside systemd every call is a no-op that neither fails nor blocks.
func TestNoNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := New(quietLogger())
	n.Ready()
	n.Watchdog(context.Background(), func() bool { return true })()
	n.Stopping()
}
