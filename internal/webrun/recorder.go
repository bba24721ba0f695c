package webrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
)

// stallAfter is how long a ready recorder may go without progress before
// it is taken as hung and killed (it reports every 500 ms).
const stallAfter = 15 * time.Second

// startSlack is how long, beyond the page's ready timeout, a recorder may
// take to start its X server, sound server and browser.
const startSlack = 20 * time.Second

// Option configures a Recorder.
type Option func(*Recorder)

// WithBinary sets the ars-mixer to run (default: mixrun.FindBinary).
func WithBinary(path string) Option { return func(r *Recorder) { r.bin = path } }

// WithLogger sets the logger (the recorder's stderr goes there too).
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// WithMetrics sets the instruments (default: unregistered ones).
func WithMetrics(m metrics.Web) Option { return func(r *Recorder) { r.m = m; r.hasM = true } }

// WithOnFile is called for every finished output file.
func WithOnFile(fn func(mixproto.FileClosed)) Option { return func(r *Recorder) { r.onFile = fn } }

// WithOnProgress is called about every 500 ms while recording.
func WithOnProgress(fn func(mixproto.Progress)) Option {
	return func(r *Recorder) { r.onProgress = fn }
}

// WithOnReady is called when the page has become ready (once per
// recorder process: again after a restart).
func WithOnReady(fn func()) Option { return func(r *Recorder) { r.onReady = fn } }

// WithOnRTMPStatus is called when an RTMP output changes state
// (connecting, publishing, failed; Agora's rtmp_publish_status event).
func WithOnRTMPStatus(fn func(mixproto.WebRTMPStatus)) Option {
	return func(r *Recorder) { r.onRTMP = fn }
}

// WithOnFailure is called when a recorder fails (its error frame's
// message in err); restarting says whether a new one takes over.
func WithOnFailure(fn func(err error, restarting bool)) Option {
	return func(r *Recorder) { r.onFailure = fn }
}

// WithMaxRestarts bounds the restarts after a recorder that had been
// ready dies (default 1). A page that never became ready is not retried.
func WithMaxRestarts(n int) Option { return func(r *Recorder) { r.maxRestarts = n } }

// Stats are a recorder's counters.
type Stats struct {
	Restarts int
	Failures int
	Files    int
	Frames   int64 // frames captured by the current process
}

type proc struct {
	cmd    *exec.Cmd
	q      chan any // mixproto.WebHold or end
	exited chan struct{}
	ready  bool
	done   bool
	merr   string
}

type endFrame struct{}

// Recorder supervises one web page recording.
type Recorder struct {
	cfg         mixproto.WebConfig
	bin         string
	log         *slog.Logger
	m           metrics.Web
	hasM        bool
	onFile      func(mixproto.FileClosed)
	onProgress  func(mixproto.Progress)
	onReady     func()
	onFailure   func(error, bool)
	onRTMP      func(mixproto.WebRTMPStatus)
	maxRestarts int

	mu       sync.Mutex
	p        *proc
	held     bool
	closing  bool
	started  bool
	stats    Stats
	mp4Next  int
	rtmp     map[string]mixproto.WebRTMPStatus
	finished chan struct{}
	final    error
}

// New prepares a recorder of cfg; Start runs it. The caller has checked
// cfg.URL with CheckURL.
func New(cfg mixproto.WebConfig, opts ...Option) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, log: slog.Default(), maxRestarts: 1, held: cfg.Hold,
		rtmp: map[string]mixproto.WebRTMPStatus{}, finished: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	if !r.hasM {
		r.m = metrics.NewWeb(nil)
	}
	r.log = r.log.With("component", "webrun")
	if cfg.MP4 != nil {
		r.mp4Next = cfg.MP4.FirstIndex
	}
	if r.bin == "" {
		bin, err := mixrun.FindBinary("")
		if err != nil {
			return nil, err
		}
		r.bin = bin
	}
	return r, nil
}

// Start runs the first recorder process.
func (r *Recorder) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	r.started = true
	r.m.Active.Inc()
	if err := r.spawnLocked(); err != nil {
		r.m.Active.Dec()
		r.finishLocked(err)
		return err
	}
	return nil
}

func (r *Recorder) spawnLocked() error {
	cfg := r.cfg
	cfg.Hold = r.held
	if cfg.MP4 != nil {
		m := *cfg.MP4
		m.FirstIndex = r.mp4Next
		if r.stats.Restarts > 0 && !strings.Contains(m.Pattern, "%d") {
			// A fixed name is the first recorder's; a successor must not
			// overwrite it.
			m.Pattern = fmt.Sprintf("%s_%d.mp4", strings.TrimSuffix(m.Pattern, ".mp4"), r.stats.Restarts+1)
		}
		cfg.MP4 = &m
	}
	cmd, stdin, stdout, err := mixrun.StartChild(r.bin, []string{"--web-recorder"}, r.log, "web recorder")
	if err != nil {
		return fmt.Errorf("webrun: %w", err)
	}
	p := &proc{cmd: cmd, q: make(chan any, 16), exited: make(chan struct{})}
	r.p = p
	alive := make(chan struct{}, 1)
	go r.write(p, stdin, cfg)
	go r.read(p, stdout, alive)
	go r.wait(p, alive)
	return nil
}

func (r *Recorder) write(p *proc, stdin io.WriteCloser, cfg mixproto.WebConfig) {
	defer stdin.Close()
	w := mixproto.NewWriter(stdin)
	if w.WriteJSON(mixproto.TypeWebConfig, cfg) != nil || w.Flush() != nil {
		return
	}
	for {
		var f any
		select {
		case f = <-p.q:
		case <-p.exited:
			return
		}
		var err error
		switch f := f.(type) {
		case mixproto.WebHold:
			err = w.WriteJSON(mixproto.TypeWebHold, f)
		case endFrame:
			err = w.WriteJSON(mixproto.TypeEnd, nil)
		}
		if err != nil || w.Flush() != nil {
			return
		}
	}
}

func (r *Recorder) read(p *proc, stdout io.Reader, alive chan<- struct{}) {
	rd := mixproto.NewReader(stdout)
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case mixproto.TypeReady:
			r.mu.Lock()
			p.ready = true
			r.mu.Unlock()
			r.poke(alive)
			if r.onReady != nil {
				r.onReady()
			}
		case mixproto.TypeProgress:
			r.poke(alive)
			var pr mixproto.Progress
			if mixproto.Decode(f.Body, &pr) != nil {
				continue
			}
			r.mu.Lock()
			r.stats.Frames = pr.Frames
			r.mu.Unlock()
			if r.onProgress != nil {
				r.onProgress(pr)
			}
		case mixproto.TypeFileClosed:
			var fc mixproto.FileClosed
			if mixproto.Decode(f.Body, &fc) != nil {
				continue
			}
			r.mu.Lock()
			r.stats.Files++
			if fc.Kind == mixproto.KindMP4 {
				r.mp4Next++
			}
			r.mu.Unlock()
			r.m.Files.Inc()
			if r.onFile != nil {
				r.onFile(fc)
			}
		case mixproto.TypeWebRTMPStatus:
			var st mixproto.WebRTMPStatus
			if mixproto.Decode(f.Body, &st) != nil {
				continue
			}
			r.mu.Lock()
			r.rtmp[st.URL] = st
			r.mu.Unlock()
			if r.onRTMP != nil {
				r.onRTMP(st)
			}
		case mixproto.TypeError:
			var e mixproto.Error
			_ = mixproto.Decode(f.Body, &e)
			r.mu.Lock()
			p.merr = e.Message
			r.mu.Unlock()
		case mixproto.TypeDone:
			r.mu.Lock()
			p.done = true
			r.mu.Unlock()
		}
	}
}

func (r *Recorder) poke(alive chan<- struct{}) {
	select {
	case alive <- struct{}{}:
	default:
	}
}

// wait follows one process to its end, killing it when it hangs, and
// restarts a recorder that died after its page had been ready.
func (r *Recorder) wait(p *proc, alive <-chan struct{}) {
	exit := make(chan error, 1)
	go func() { exit <- p.cmd.Wait() }()
	timer := time.NewTimer(time.Duration(r.cfg.ReadyTimeoutSec)*time.Second + startSlack)
	defer timer.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-exit:
			waiting = false
		case <-alive:
			timer.Reset(stallAfter)
		case <-timer.C:
			r.log.Error("web recorder hung: killing its process group", "pid", p.cmd.Process.Pid)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			timer.Reset(stallAfter)
		}
	}
	// Whatever the recorder left in its group (a browser it could not
	// reap) goes with it.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	removeWorkDirs(p.cmd.Process.Pid, r.log)
	r.mu.Lock()
	defer r.mu.Unlock()
	close(p.exited)
	if p.done && err == nil {
		r.m.Active.Dec()
		r.finishLocked(nil)
		return
	}
	msg := p.merr
	if msg == "" {
		msg = fmt.Sprint(err)
	}
	failure := fmt.Errorf("%w: %s", ErrRecorderFailed, msg)
	r.stats.Failures++
	r.m.Failures.Inc()
	restart := p.ready && !r.closing && r.stats.Restarts < r.maxRestarts
	r.log.Error("web recorder exited", "error", failure, "restarting", restart)
	if r.onFailure != nil {
		go r.onFailure(failure, restart)
	}
	if !restart {
		r.m.Active.Dec()
		r.finishLocked(failure)
		return
	}
	r.stats.Restarts++
	r.m.Restarts.Inc()
	if err := r.spawnLocked(); err != nil {
		r.m.Active.Dec()
		r.finishLocked(err)
	}
}

func (r *Recorder) finishLocked(err error) {
	select {
	case <-r.finished:
	default:
		r.final = err
		close(r.finished)
	}
}

// Hold holds (true: the outputs get no media, a gap; the page keeps
// running) or resumes the recording. A restarted recorder keeps the state.
func (r *Recorder) Hold(h bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = h
	if r.p == nil || r.closing {
		return
	}
	select {
	case r.p.q <- mixproto.WebHold{Hold: h}:
	default:
		r.log.Warn("web recorder queue full: hold dropped", "hold", h)
	}
}

// Held reports whether the recording is on hold.
func (r *Recorder) Held() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// Done is closed when the recording has ended (Err says how).
func (r *Recorder) Done() <-chan struct{} { return r.finished }

// End asks the recorder to finish and finalise its outputs, without
// waiting (Close waits).
func (r *Recorder) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.p == nil {
		return
	}
	r.closing = true
	select {
	case r.p.q <- endFrame{}:
	default:
		_ = r.p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// Close ends the recording and waits until its process tree is gone: the
// recorder finalises its files. When ctx ends first the recorder is sent
// SIGTERM (it finalises too), and after 5 s more its process group is
// killed.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.p == nil {
		r.mu.Unlock()
		return ErrClosed
	}
	r.mu.Unlock()
	r.End()
	select {
	case <-r.finished:
	case <-ctx.Done():
		r.mu.Lock()
		pid := r.p.cmd.Process.Pid
		r.mu.Unlock()
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-r.finished:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-r.finished
		}
	}
	return r.final
}

// PID is the current recorder process's id (0 before Start).
func (r *Recorder) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil || r.p.cmd.Process == nil {
		return 0
	}
	return r.p.cmd.Process.Pid
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Err is the recording's end: nil after a clean finish or while it runs.
func (r *Recorder) Err() error {
	select {
	case <-r.finished:
		return r.final
	default:
		return nil
	}
}

// RTMPStatus is every RTMP output's last reported state, in the config's
// order (for query's outputs[{rtmpUrl, status}]).
func (r *Recorder) RTMPStatus() []mixproto.WebRTMPStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]mixproto.WebRTMPStatus, 0, len(r.cfg.RTMP))
	for _, u := range r.cfg.RTMP {
		st, ok := r.rtmp[u]
		if !ok {
			st = mixproto.WebRTMPStatus{URL: u, Status: mixproto.RTMPConnecting}
		}
		out = append(out, st)
	}
	return out
}

// removeWorkDirs removes the private directory (profile, sockets) of a
// recorder that could not remove it itself (killed): the recorder names
// it ars-web-<pid>-* in the temporary directory.
func removeWorkDirs(pid int, log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("ars-web-%d-*", pid)))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			log.Warn("web recorder directory not removed", "dir", d, "error", err)
			continue
		}
		log.Info("removed a killed web recorder's directory", "dir", d)
	}
}
