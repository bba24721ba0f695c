package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/freeport"
)

func TestLifecycleUndoesAFailedStart(t *testing.T) {
	var events []string
	rec := func(name string) func(context.Context) error {
		return func(context.Context) error { events = append(events, "close "+name); return nil }
	}
	boom := errors.New("boom")
	l := lifecycle{stages: []stage{
		{name: "a", start: func() error { events = append(events, "start a"); return nil }, close: rec("a")},
		{name: "b", close: rec("b")},
		{name: "c", start: func() error { return boom }, close: rec("c")},
		{name: "d", start: func() error { t.Fatal("d started after c failed"); return nil }},
	}}
	if err := l.start(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("start: %v", err)
	}
	if want := []string{"start a", "close b", "close a"}; !slices.Equal(events, want) {
		t.Fatalf("events %v, want %v", events, want)
	}
}

// wantOrder is the start order doc.go explains; the stop order is its
// reverse.
var wantOrder = []string{"files", "descriptors", "state", "transcode pool", "sessions", "live composites",
	"rtp sockets", "api", "joins", "webhooks", "uploads", "cloud recording", "rtp readers", "webrtc ingest", "http", "pprof"}

func testConfig(t *testing.T, extra ...string) config.Config {
	t.Helper()
	httpPort, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := freeport.UDPRange(2)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AGORA_FILE_ROOT": t.TempDir(), "PORT": fmt.Sprint(httpPort), "ARS_BIND": "127.0.0.1",
		"ARS_RTP_PORTS": fmt.Sprintf("%d-%d", first, last), "ARS_WEBRTC_PORT": "0",
		"ARS_APP_ID": "970ca35de60c44645bbae8a215061b33", "ARS_APP_CERTIFICATE": "5cfd2fd1755d40ecb72977518be15d3b",
		"ARS_CLOUD_CUSTOMER_ID": "cust", "ARS_CLOUD_CUSTOMER_SECRET": "secret", "ARS_CLOUD_STORAGE": "local",
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, flag.NewFlagSet("t", flag.ContinueOnError))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStageOrder runs the real daemon (with the cloud API on) and checks
// that every stage started in the documented order and closed in its
// reverse: the RTP readers before the cloud recorder and the sessions,
// the state store last.
func TestStageOrder(t *testing.T) {
	d := New(testConfig(t), io.Discard, io.Discard)
	if got := d.life.names(); !slices.Equal(got, wantOrder) {
		t.Fatalf("stages %v\nwant       %v", got, wantOrder)
	}
	var mu sync.Mutex
	var starts, closes []string
	d.life.trace = func(ev, name string) {
		mu.Lock()
		defer mu.Unlock()
		if ev == "start" {
			starts = append(starts, name)
		} else {
			closes = append(closes, name)
		}
	}
	runUntilHealthy(t, d)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(starts, wantOrder) {
		t.Fatalf("started %v", starts)
	}
	var wantClose []string
	for i := len(wantOrder) - 1; i >= 0; i-- {
		switch wantOrder[i] {
		case "files", "descriptors", "api", "joins": // nothing to close
		default:
			wantClose = append(wantClose, wantOrder[i])
		}
	}
	if !slices.Equal(closes, wantClose) {
		t.Fatalf("closed %v\nwant   %v", closes, wantClose)
	}
}

// runUntilHealthy runs d until its HTTP API answers /healthz, then stops
// it and requires a clean stop.
func runUntilHealthy(t *testing.T, d *Daemon) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a := d.addr(); a != "" {
			resp, err := http.Get("http://" + a + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("daemon ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon not healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestDevModeStarts: with no app ID configured the daemon makes its
// development credentials before anything needs them (the key verifier).
func TestDevModeStarts(t *testing.T) {
	runUntilHealthy(t, New(testConfig(t, "ARS_APP_ID=", "ARS_APP_CERTIFICATE="), io.Discard, io.Discard))
}
