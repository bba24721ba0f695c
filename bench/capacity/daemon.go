package capacity

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/freeport"
)

// Daemon is one `ars serve` started for a run, on loopback.
type Daemon struct {
	cmd       *exec.Cmd
	Base      string // http://127.0.0.1:PORT
	Root      string
	FirstPort int
	LastPort  int
	out       *lockedBuffer
	exited    chan error
	// PprofBase is http://127.0.0.1:PORT of the profiling listener, or
	// empty.
	PprofBase string
}

// DaemonConfig says how to run the daemon.
type DaemonConfig struct {
	Binary  string
	Root    string // AGORA_FILE_ROOT
	Ports   int    // size of ARS_RTP_PORTS
	RcvBuf  int    // ARS_UDP_RCVBUF
	AppID   string
	AppCert string
	Env     []string // extra settings, e.g. GOMAXPROCS
	// Nice runs the daemon at this scheduling niceness (nice(1)); see
	// niceCommand for why the benchmark lowers the receiver's priority.
	Nice int
	// NoGRO turns the daemon's UDP GRO off (ARS_UDP_GRO=false), and the
	// floor's with it.
	NoGRO bool
	// Pprof serves the daemon's Go profiles on a free loopback port
	// (ARS_PPROF_ADDR); Daemon.PprofBase is then its URL.
	Pprof bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Keep the tail only: a long run logs a lot and only the end matters.
	if l.b.Len() > 1<<20 {
		rest := append([]byte(nil), l.b.Bytes()[l.b.Len()-512<<10:]...)
		l.b.Reset()
		l.b.Write(rest)
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartDaemon runs the daemon and waits until /healthz answers.
func StartDaemon(ctx context.Context, c DaemonConfig) (*Daemon, error) {
	httpPort, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	first, last, err := freeport.UDPRange(c.Ports)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Root: c.Root, FirstPort: first, LastPort: last,
		out: &lockedBuffer{}, exited: make(chan error, 1)}
	d.cmd = niceCommand(c.Nice, c.Binary, "serve")
	d.cmd.Env = append(os.Environ(),
		"AGORA_FILE_ROOT="+c.Root,
		"PORT="+strconv.Itoa(httpPort),
		"ARS_BIND=127.0.0.1",
		fmt.Sprintf("ARS_RTP_PORTS=%d-%d", first, last),
		"ARS_WEBRTC_PORT=0",
		"ARS_APP_ID="+c.AppID,
		"ARS_APP_CERTIFICATE="+c.AppCert,
		"ARS_TRANSCODE_ON_STOP=false",
		"ARS_UDP_RCVBUF="+strconv.Itoa(c.RcvBuf),
		// Opening thousands of participants takes a while before media
		// flows; the default idle timeout must not end them meanwhile.
		"ARS_IDLE_TIMEOUT=5m",
		"ARS_LOG_LEVEL=warn",
		"ARS_UDP_GRO="+strconv.FormatBool(!c.NoGRO),
		// The generator is one loopback client standing for thousands of
		// senders: the per-address join cap (default 500) would refuse
		// the larger steps. The other caps stay at their defaults.
		"ARS_MAX_JOINS_PER_IP=0",
	)
	if c.Pprof {
		pp, err := freeport.TCP()
		if err != nil {
			return nil, err
		}
		d.PprofBase = fmt.Sprintf("http://127.0.0.1:%d", pp)
		d.cmd.Env = append(d.cmd.Env, fmt.Sprintf("ARS_PPROF_ADDR=127.0.0.1:%d", pp))
	}
	d.cmd.Env = append(d.cmd.Env, c.Env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDaemon, err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exited:
			d.exited <- err
			return nil, fmt.Errorf("%w: exited early: %v\n%s", ErrDaemon, err, d.out.String())
		case <-ctx.Done():
			d.Kill()
			return nil, ctx.Err()
		default:
		}
		if resp, err := http.Get(d.Base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.Kill()
	return nil, fmt.Errorf("%w: not healthy within 30s\n%s", ErrDaemon, d.out.String())
}

// CPUProfile takes a CPU profile of secs seconds into path.
func (d *Daemon) CPUProfile(ctx context.Context, secs int, path string) error {
	if d.PprofBase == "" {
		return fmt.Errorf("%w: started without pprof", ErrDaemon)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", d.PprofBase, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}

// PID is the daemon's process ID.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Ports lists the RTP ports.
func (d *Daemon) Ports() []int {
	var out []int
	for p := d.FirstPort; p <= d.LastPort; p++ {
		out = append(out, p)
	}
	return out
}

// Output is the tail of what the daemon logged.
func (d *Daemon) Output() string { return d.out.String() }

// Stop sends SIGTERM and waits for a clean exit.
func (d *Daemon) Stop(timeout time.Duration) error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			return fmt.Errorf("%w: exit: %w\n%s", ErrDaemon, err, d.out.String())
		}
		return nil
	case <-time.After(timeout):
		d.Kill()
		return fmt.Errorf("%w: no exit within %v of SIGTERM", ErrDaemon, timeout)
	}
}

// Kill ends the daemon at once.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
}
