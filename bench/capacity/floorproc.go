package capacity

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/floor"
)

// FloorProc is the bare receiver running in its own process, so that its
// CPU can be read from /proc exactly like the daemon's.
type FloorProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
}

// StartFloor runs `EXE floor` (see bench/cmd/arsbench) on the ports and
// waits until it is listening.
func StartFloor(exe string, first, last, rcvbuf, nice int, gro bool) (*FloorProc, error) {
	cmd := niceCommand(nice, exe, "floor", "--gro="+strconv.FormatBool(gro), "--ports", fmt.Sprintf("%d-%d", first, last), "--rcvbuf", strconv.Itoa(rcvbuf))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFloor, err)
	}
	f := &FloorProc{cmd: cmd, stdout: bufio.NewReader(out)}
	ready := make(chan error, 1)
	go func() {
		line, err := f.stdout.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("%w: %w", ErrFloor, err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w: not ready in 10s", ErrFloor)
	}
	return f, nil
}

// PID is the receiver's process ID.
func (f *FloorProc) PID() int { return f.cmd.Process.Pid }

// Stop ends the receiver and returns what it counted.
func (f *FloorProc) Stop() (floor.Counts, error) {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	raw, _ := io.ReadAll(f.stdout)
	err := f.cmd.Wait()
	var c floor.Counts
	if jerr := json.Unmarshal(raw, &c); jerr != nil {
		return c, fmt.Errorf("%w: report %q: %w (exit %v)", ErrFloor, raw, jerr, err)
	}
	return c, err
}
