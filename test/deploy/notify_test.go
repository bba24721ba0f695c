package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs the real daemon under a notify socket, as systemd
// runs ars.service (Type=notify, WatchdogSec=): READY=1 comes first and
// only when the HTTP and UDP listeners are bound, WATCHDOG=1 follows while
// the daemon is healthy, STOPPING=1 comes on SIGTERM and nothing after it.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ars := filepath.Join(dir, "ars")
	goBuild(t, ars, "./cmd/ars")

	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()

	c := newCreds(t)
	port := freeTCPPort(t)
	first, last := freeUDPRange(t, 2)
	root := filepath.Join(dir, "recordings")
	cmd := exec.Command(ars, "serve")
	// WATCHDOG_PID is left unset: go-systemd then takes the watchdog as ours.
	cmd.Env = append(cleanEnv(),
		"NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000",
		"AGORA_FILE_ROOT="+root, "PORT="+strconv.Itoa(port), "ARS_BIND=127.0.0.1",
		fmt.Sprintf("ARS_RTP_PORTS=%d-%d", first, last), "ARS_WEBRTC_PORT=0",
		"ARS_APP_ID="+c.appID, "ARS_APP_CERTIFICATE="+c.cert)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", out.String())
		}
	}()

	next := func(what string) string {
		t.Helper()
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %s", what)
			}
			return m
		case err := <-exited:
			t.Fatalf("daemon exited waiting for %s: %v", what, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s within 30s", what)
		}
		return ""
	}

	if m := next("READY=1"); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	// At READY=1 everything is bound: no retry allowed.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		t.Fatalf("HTTP not answering at READY=1: %v", err)
	}
	resp.Body.Close()
	for p := first; p <= last; p++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err == nil {
			u.Close()
			t.Fatalf("UDP port %d not bound at READY=1", p)
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("UDP port %d: %v", p, err)
		}
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("recording root at READY=1: %v", err)
	}

	for i := 0; i < 2; i++ {
		if m := next("WATCHDOG=1"); m != "WATCHDOG=1" {
			t.Fatalf("message %q, want WATCHDOG=1", m)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Pings already queued may precede STOPPING=1; none may follow it.
	for {
		m := next("STOPPING=1")
		if m == "STOPPING=1" {
			break
		}
		if m != "WATCHDOG=1" {
			t.Fatalf("message %q while stopping", m)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("daemon still running 60s after SIGTERM")
	}
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for m := range msgs {
		t.Fatalf("message %q after STOPPING=1", m)
	}
}
