package webrun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebBench measures one 1280x720 30 fps web recording: the CPU of the
// whole tree (recorder, Xvfb, PulseAudio, Chromium's processes) over 20 s
// and its memory (RSS summed, and PSS, which shares Chromium's common
// pages out fairly). Run it alone on an idle machine:
//
//	ARS_WEB_BENCH=1 go test ./internal/webrun -run TestWebBench -v
func TestWebBench(t *testing.T) {
	if os.Getenv("ARS_WEB_BENCH") == "" {
		t.Skip("a benchmark: set ARS_WEB_BENCH=1")
	}
	requireWeb(t)
	bin := mixerBinary(t)
	html := page(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(html)
	}))
	defer srv.Close()
	cfg := webConfig(t, srv.URL+"/")
	cfg.Width, cfg.Height, cfg.BitrateKbps = 1280, 720, 2000
	ready := make(chan struct{}, 1)
	r, err := New(cfg, WithBinary(bin), WithOnReady(func() { ready <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(40 * time.Second):
		t.Fatal("not ready")
	}
	time.Sleep(3 * time.Second)
	pid := r.PID()
	const window = 20 * time.Second
	cpu0, t0 := treeCPU(pid), time.Now()
	var maxRSS, maxPSS, sumPSS int64
	var samples int64
	for time.Since(t0) < window {
		time.Sleep(time.Second)
		rss, pss := treeMem(pid)
		maxRSS, maxPSS = max(maxRSS, rss), max(maxPSS, pss)
		sumPSS += pss
		samples++
	}
	cpu1, el := treeCPU(pid), time.Since(t0)
	byName := map[string]float64{}
	for n, v := range cpu1.by {
		byName[n] = (v - cpu0.by[n]) / el.Seconds() * 100
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cpuPct := (cpu1.total - cpu0.total) / el.Seconds() * 100
	t.Logf("1280x720 30 fps web recording over %v: CPU %.0f%% of one core (%v), RSS sum max %d MiB, PSS max %d MiB mean %d MiB; %.1f recordings on 2 cores",
		el.Round(time.Second), cpuPct, fmtShares(byName), maxRSS>>20, maxPSS>>20, (sumPSS/samples)>>20, 200/cpuPct)
}

type cpuSample struct {
	total float64
	by    map[string]float64
}

var clkTck = 100.0

// treeCPU is utime+stime, in s, of pid and its descendants, by name.
func treeCPU(pid int) cpuSample {
	s := cpuSample{by: map[string]float64{}}
	procs := tree(pid)
	procs[pid] = "ars-mixer"
	for p, name := range procs {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		s.total += (u + k) / clkTck
		s.by[name] += (u + k) / clkTck
	}
	return s
}

// treeMem is the summed RSS and PSS of pid and its descendants, bytes.
func treeMem(pid int) (rss, pss int64) {
	procs := tree(pid)
	procs[pid] = "ars-mixer"
	for p := range procs {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rss += n << 10
			case "Pss:":
				pss += n << 10
			}
		}
	}
	return rss, pss
}

func fmtShares(m map[string]float64) string {
	var b strings.Builder
	for n, v := range m {
		if v >= 0.5 {
			b.WriteString(n + " " + strconv.FormatFloat(v, 'f', 0, 64) + "% ")
		}
	}
	return strings.TrimSpace(b.String())
}
