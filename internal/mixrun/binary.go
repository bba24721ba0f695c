package mixrun

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// FindBinary returns the ars-mixer to run: configured (ARS_MIXER_BIN),
// else next to the running executable, else on PATH.
func FindBinary(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoMixer, err)
		}
		return configured, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "ars-mixer")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("ars-mixer")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMixer, err)
	}
	return p, nil
}

// StartChild starts one ars-mixer role: bin with args, in its own process
// group (a hung child is killed with whatever it started) and killed with
// the daemon (Pdeathsig), its stderr logged line by line as logMsg. The
// caller owns the pipes and waits for the process. Every supervisor of an
// ars-mixer role starts its children here.
func StartChild(bin string, args []string, log *slog.Logger, logMsg string) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd.Stderr = NewLogWriter(log, logMsg)
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd, stdin, stdout, nil
}
