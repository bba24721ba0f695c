package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startDaemonWithNofile runs `ars serve` as startDaemon does, but with
// RLIMIT_NOFILE (soft and hard) of the child set to nofile by the shell
// that execs it: the daemon can raise nothing above it, as on a host whose
// unit sets LimitNOFILE=.
func startDaemonWithNofile(t *testing.T, nofile int, extraEnv ...string) *daemon {
	t.Helper()
	ars, _ := binaries(t)
	wrapper := filepath.Join(t.TempDir(), "ars-nofile")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 111\nexec %s \"$@\"\n", nofile, ars)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(arsBinEnv, wrapper) // startDaemonOn runs this binary
	return startDaemonOn(t, t.TempDir(), extraEnv...)
}

// nofileOf reads the descriptor limit of a running process.
func nofileOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return strings.Join(strings.Fields(line)[3:5], "/")
		}
	}
	return "?"
}

// fresh is a client that opens a new connection for every request, as a
// client arriving during a flood does.
func fresh(from net.IP) *http.Client {
	dialer := &net.Dialer{}
	if from != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: from}
	}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
}

// freshCall sends a JSON request on a new connection within timeout and
// decodes the answer.
func freshCall(base, method, path string, body, out any, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(jsonBody(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := fresh(nil).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("answer %q: %w", raw, err)
		}
	}
	return resp.StatusCode, nil
}

// flood holds idle keep-alive connections to addr, as an attacker does:
// each sends one request, reads the answer and stays open.
type flood struct {
	mu      sync.Mutex
	conns   []net.Conn
	answers map[int]int // status -> count
	failed  int         // connections refused or cut before an answer
}

func newFlood() *flood { return &flood{answers: map[int]int{}} }

// open opens n connections from each address in from, with workers
// dialling at once.
func (f *flood) open(addr string, from []net.IP, n, workers int) {
	var wg sync.WaitGroup
	jobs := make(chan net.IP)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ip := range jobs {
				f.one(addr, ip)
			}
		}()
	}
	for i := 0; i < n; i++ {
		for _, ip := range from {
			jobs <- ip
		}
	}
	close(jobs)
	wg.Wait()
}

func (f *flood) one(addr string, from net.IP) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		f.count(0)
		return
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ars\r\n\r\n"); err != nil {
		c.Close()
		f.count(0)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		f.count(0)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	f.count(resp.StatusCode)
	f.mu.Lock()
	f.conns = append(f.conns, c) // held, idle, whatever the answer
	f.mu.Unlock()
}

func (f *flood) count(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		f.failed++
		return
	}
	f.answers[status]++
}

func (f *flood) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, s := range []int{200, 429, 503} {
		parts = append(parts, strconv.Itoa(s)+": "+strconv.Itoa(f.answers[s]))
	}
	return fmt.Sprintf("%s, no answer: %d, held open by the client: %d", strings.Join(parts, ", "), f.failed, len(f.conns))
}

func (f *flood) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// prober asks the API for its health on a new connection from 127.0.0.1
// every interval, each within limit, and records what went wrong.
type prober struct {
	base     string
	limit    time.Duration
	mu       sync.Mutex
	probes   int
	failures []string
	slowest  time.Duration
	stop     chan struct{}
	done     chan struct{}
}

func startProber(base string, interval, limit time.Duration) *prober {
	p := &prober{base: base, limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			code, err := freshCall(p.base, "GET", "/v1/recording/status?channel=probe", nil, nil, p.limit)
			took := time.Since(t0)
			p.mu.Lock()
			p.probes++
			p.slowest = max(p.slowest, took)
			if err != nil || code != 200 {
				p.failures = append(p.failures, fmt.Sprintf("after %v: %d %v", took.Round(time.Millisecond), code, err))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *prober) finish() (int, time.Duration, []string) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes, p.slowest, p.failures
}
