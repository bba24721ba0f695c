package mixbench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/internal/mixproto"
)

// LiveRun is one live composite made by an ars-mixer process.
type LiveRun struct {
	Binary   string
	Args     []string
	Dir      string // absolute; the composite's OutDir
	Scenario Scenario
	Inputs   []*Input
	// Origin is the wall time of PTS 0; Delay is Config.DelayMs.
	Origin time.Time
	Delay  time.Duration
}

// LiveResult is what one live composite did.
type LiveResult struct {
	Output string `json:"output"`
	// MediaSeconds is the fed media's length (the last PTS).
	MediaSeconds float64 `json:"mediaSeconds"`
	// CPUSeconds is the mixer's user+system time from PTS 0 to the last
	// unit fed: the steady state a long recording pays per second.
	CPUSeconds float64 `json:"cpuSeconds"`
	// TotalCPUSeconds is the whole process's, start-up and finalising
	// included (rusage of the child).
	TotalCPUSeconds float64 `json:"totalCpuSeconds"`
	// MaxRSS is the process's peak resident memory, bytes.
	MaxRSS int64 `json:"maxRss"`
	// ReadyAfter is how long after its start the mixer said Ready.
	ReadyAfter time.Duration `json:"readyAfter"`
	// FeedLate is the worst lateness of this harness writing a unit at
	// its PTS: above a few ms the box itself, not the mixer, fell behind.
	FeedLate time.Duration `json:"feedLate"`
	// MaxLag is the worst (wall position - Progress.PTS) after the first
	// two seconds: how far behind real time the output ran (Delay and the
	// encoder's own latency included).
	MaxLag       time.Duration `json:"maxLag"`
	LastProgress mixproto.Progress
	Files        []mixproto.FileClosed `json:"files"`
	Err          string                `json:"error,omitempty"`
	Stderr       string                `json:"-"`
}

// unit is one scheduled media frame.
type unit struct {
	pts    int64
	typ    mixproto.Type
	source uint32
	key    bool
	data   []byte
}

func schedule(inputs []*Input, fps int) []unit {
	var out []unit
	for _, in := range inputs {
		for i, au := range in.Video {
			pts := int64(i) * int64(time.Second) / int64(fps)
			out = append(out, unit{pts: pts, typ: mixproto.TypeVideo, source: in.Source, key: au.Key, data: au.Data})
		}
		for i, p := range in.Audio {
			out = append(out, unit{pts: int64(i) * int64(opusFrame), typ: mixproto.TypeAudio, source: in.Source, data: p})
		}
	}
	slices.SortStableFunc(out, func(a, b unit) int { return cmp.Compare(a.pts, b.pts) })
	return out
}

// Monotonic is CLOCK_MONOTONIC now, in ns: the clock the mixer's
// pipeline runs on.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Config is the mixproto Config of the run: live, MP4 output only.
func (r *LiveRun) Config() mixproto.Config {
	c := r.Scenario.Canvas
	srcs := make([]uint32, len(r.Inputs))
	for i, in := range r.Inputs {
		srcs[i] = in.Source
	}
	return mixproto.Config{
		Live:            true,
		OriginMonotonic: Monotonic() + int64(time.Until(r.Origin)),
		OriginUnixMs:    r.Origin.UnixMilli(),
		DelayMs:         int(r.Delay / time.Millisecond),
		Video:           &c,
		Audio:           r.Scenario.Audio,
		Layout:          mixproto.Layout{Background: 0x000000, Windows: Grid(c.Width, c.Height, len(r.Inputs), srcs)},
		OutDir:          r.Dir,
		MP4:             &mixproto.MP4Output{Pattern: "mix.mp4"},
	}
}

// RunLive starts the mixer, feeds every unit at the wall time its PTS
// names, ends the composite and waits for Done.
func RunLive(ctx context.Context, r *LiveRun) *LiveResult {
	res := &LiveResult{Output: filepath.Join(r.Dir, "mix.mp4")}
	if err := run(ctx, r, res); err != nil {
		res.Err = err.Error()
	}
	return res
}

func run(ctx context.Context, r *LiveRun, res *LiveResult) error {
	if err := os.MkdirAll(r.Dir, 0o750); err != nil {
		return err
	}
	cfg := r.Config()
	if err := cfg.Validate(); err != nil {
		return err
	}
	units := schedule(r.Inputs, r.Scenario.Input.FPS)
	if len(units) == 0 {
		return fmt.Errorf("%w: no units", ErrMedia)
	}
	cmd := exec.CommandContext(ctx, r.Binary, r.Args...)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %s: %w", ErrMixer, r.Binary, err)
	}
	pid := cmd.Process.Pid
	rd := &backReader{origin: cfg.OriginMonotonic, started: started, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); rd.read(stdout) }()

	ferr := feed(ctx, stdin, cfg, r, units, pid, res)
	// The mixer finalises its outputs after End; give it time.
	select {
	case <-rd.done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
	case <-ctx.Done():
	}
	wg.Wait()
	werr := cmd.Wait()
	res.Stderr = stderr.String()
	if st := cmd.ProcessState; st != nil {
		res.TotalCPUSeconds = (st.UserTime() + st.SystemTime()).Seconds()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = ru.Maxrss * 1024
		}
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	res.ReadyAfter, res.MaxLag, res.LastProgress, res.Files = rd.readyAfter, rd.maxLag, rd.last, rd.files
	switch {
	case ferr != nil:
		return ferr
	case rd.errMsg != "":
		return fmt.Errorf("%w: %s", ErrMixer, rd.errMsg)
	case !rd.sawDone:
		return fmt.Errorf("%w: no Done (exit: %v): %s", ErrMixer, werr, lastLine(res.Stderr))
	case werr != nil:
		return fmt.Errorf("%w: exit after Done: %w", ErrMixer, werr)
	}
	return nil
}

// feed writes the Config, the Joins, then each unit when due, then End.
func feed(ctx context.Context, stdin io.WriteCloser, cfg mixproto.Config, r *LiveRun, units []unit, pid int, res *LiveResult) error {
	defer stdin.Close()
	w := mixproto.NewWriter(stdin)
	if err := w.WriteJSON(mixproto.TypeConfig, cfg); err != nil {
		return fmt.Errorf("%w: config: %w", ErrMixer, err)
	}
	for _, in := range r.Inputs {
		if err := w.WriteJSON(mixproto.TypeJoin, mixproto.Source{ID: in.Source, UID: in.UID, Video: true, Audio: true}); err != nil {
			return fmt.Errorf("%w: join: %w", ErrMixer, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrMixer, err)
	}
	cpu0 := time.Duration(-1)
	var t0 time.Time
	for _, u := range units {
		due := r.Origin.Add(time.Duration(u.pts))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		} else {
			res.FeedLate = max(res.FeedLate, -d)
		}
		if cpu0 < 0 {
			// The window starts at PTS 0: start-up is not media time.
			t0 = time.Now()
			cpu0, _ = capacity.ProcCPU(pid)
		}
		var flags uint8
		if u.key {
			flags = mixproto.FlagKey
		}
		if err := w.WriteMedia(u.typ, mixproto.Media{Source: u.source, PTS: u.pts, Flags: flags, Data: u.data}); err != nil {
			return fmt.Errorf("%w: write: %w", ErrMixer, err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("%w: write: %w", ErrMixer, err)
		}
	}
	cpu1, _ := capacity.ProcCPU(pid)
	res.CPUSeconds = (cpu1 - cpu0).Seconds()
	res.MediaSeconds = time.Since(t0).Seconds()
	for _, in := range r.Inputs {
		_ = w.WriteJSON(mixproto.TypeLeave, mixproto.Leave{ID: in.Source})
	}
	if err := w.WriteJSON(mixproto.TypeEnd, nil); err != nil {
		return fmt.Errorf("%w: end: %w", ErrMixer, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%w: end: %w", ErrMixer, err)
	}
	return nil
}

// backReader collects the mixer's reports.
type backReader struct {
	origin  int64
	started time.Time
	done    chan struct{}

	mu         sync.Mutex
	readyAfter time.Duration
	maxLag     time.Duration
	last       mixproto.Progress
	files      []mixproto.FileClosed
	errMsg     string
	sawDone    bool
}

// lagWarmup is how long into the composite lag is not yet counted: the
// first output frames wait for the first keyframes and the delay.
const lagWarmup = 2 * time.Second

func (b *backReader) read(rd io.Reader) {
	defer close(b.done)
	r := mixproto.NewReader(rd)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b.mu.Lock()
				if b.errMsg == "" && !b.sawDone {
					b.errMsg = "reading the mixer: " + err.Error()
				}
				b.mu.Unlock()
			}
			_, _ = io.Copy(io.Discard, rd)
			return
		}
		now := Monotonic()
		b.mu.Lock()
		switch f.Type {
		case mixproto.TypeReady:
			b.readyAfter = time.Since(b.started)
		case mixproto.TypeProgress:
			var p mixproto.Progress
			if mixproto.Decode(f.Body, &p) == nil {
				b.last = p
				if wall := now - b.origin; wall > int64(lagWarmup) {
					b.maxLag = max(b.maxLag, time.Duration(wall-p.PTS))
				}
			}
		case mixproto.TypeFileClosed:
			var fc mixproto.FileClosed
			if mixproto.Decode(f.Body, &fc) == nil {
				b.files = append(b.files, fc)
			}
		case mixproto.TypeError:
			var e mixproto.Error
			if mixproto.Decode(f.Body, &e) == nil {
				b.errMsg = e.Message
			}
		case mixproto.TypeDone:
			b.sawDone = true
		}
		b.mu.Unlock()
	}
}

// limitedWriter keeps the first n bytes (a mixer's log), drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
