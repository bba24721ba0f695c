package pprofserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"[::1]:6060", true},
		{"localhost:0", true},
		{"127.0.0.2:6060", true},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"[::]:6060", false},
		{"10.0.0.1:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
	}
	for _, c := range cases {
		err := CheckAddr(c.addr)
		if (err == nil) != c.ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", c.addr, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckAddr(%q): %v is not ErrNotLoopback", c.addr, err)
		}
	}
}

func TestServesProfiles(t *testing.T) {
	s := New("127.0.0.1:0", nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr().String()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		if strings.HasPrefix(path, "/debug/pprof/goroutine") && !strings.Contains(string(body), "goroutine") {
			t.Errorf("%s: %.200s", path, body)
		}
	}
	// Nothing but profiles: the API is not served here.
	resp, err := http.Get(base + "/v1/recording/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("API path on the pprof server: %d", resp.StatusCode)
	}
}

func TestRefusesPublicAddress(t *testing.T) {
	if err := New("0.0.0.0:0", nil).Start(); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("Start on 0.0.0.0: %v", err)
	}
}
