// Command flushcost measures what the capture flush interval
// (ARS_FLUSH_INTERVAL) costs the daemon per packet, in counts that do not
// depend on how busy the machine is: instructions under valgrind's
// callgrind, and the daemon's syscalls from /proc/PID/io.
//
// One run starts a daemon (optionally under callgrind), opens the channels,
// warms them up (each participant's first packet opens its capture file),
// then measures one window: callgrind's counters are zeroed, the load is
// sent for -duration (or, with -idle, nothing is sent), the daemon is given
// -drain to catch up, and the counters are dumped. The window's packets are
// ars_packets_received_total's difference, checked against what was sent.
//
//	go run ./bench/cmd/flushcost -ars /tmp/ars -flush 50ms -callgrind
//
// It prints one JSON line.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/loadgen"
)

const (
	appID   = "970ca35de60c44645bbae8a215061b33"
	appCert = "5cfd2fd1755d40ecb72977518be15d3b"
)

type result struct {
	Flush         string  `json:"flush"`
	Idle          bool    `json:"idle"`
	Callgrind     bool    `json:"callgrind"`
	Channels      int     `json:"channels"`
	WindowS       float64 `json:"windowS"` // wall time between zero and dump
	Sent          uint64  `json:"sent"`
	Received      uint64  `json:"received"`
	Written       uint64  `json:"written"`
	Dropped       uint64  `json:"dropped"`
	KernelDrops   uint64  `json:"kernelDrops"`
	Instructions  uint64  `json:"instructions"`
	Syscalls      uint64  `json:"syscalls"`      // syscr+syscw over the window
	WriteSyscalls uint64  `json:"writeSyscalls"` // syscw
	WriteBytes    uint64  `json:"writeBytes"`    // wchar
	CPUUserS      float64 `json:"cpuUserS"`
	CPUSysS       float64 `json:"cpuSysS"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flushcost:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("ars", "bin/ars", "daemon binary")
	flush := flag.String("flush", "500ms", "ARS_FLUSH_INTERVAL")
	buffers := flag.String("capture-buffers", "", "ARS_CAPTURE_BUFFER_DIR (\"off\": heap buffers, the daemon before crash buffers; empty: the daemon's default, shared memory)")
	channels := flag.Int("channels", 20, "two-person channels")
	ports := flag.Int("ports", 4, "RTP ports")
	dur := flag.Duration("duration", 20*time.Second, "sending time of the measured window")
	warm := flag.Duration("warmup", 3*time.Second, "sending time before the window")
	drain := flag.Duration("drain", 5*time.Second, "wait after sending before the window closes")
	idle := flag.Bool("idle", false, "send nothing in the window (the baseline)")
	cg := flag.Bool("callgrind", false, "run the daemon under valgrind --tool=callgrind")
	media := flag.String("media", "bench/media", "media folder")
	work := flag.String("work", "", "work folder (default: a temporary one)")
	flag.Parse()

	ctx := context.Background()
	m, err := loadgen.EnsureMedia(ctx, *media, loadgen.MediaOptions{})
	if err != nil {
		return err
	}
	tr, err := loadgen.LoadTracks(m.Capture)
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flushcost-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	binary, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	cgOut := filepath.Join(dir, "callgrind.out")
	if *cg {
		// exec keeps the PID: callgrind_control and /proc/PID/io see the
		// daemon under valgrind. Go's asynchronous preemption (SIGURG)
		// trips an assertion in valgrind 3.19's callgrind, hence its
		// GODEBUG setting (in the runs with and without callgrind alike).
		wrap := filepath.Join(dir, "ars-callgrind.sh")
		script := fmt.Sprintf("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s --dump-line=no --compress-strings=no %s \"$@\"\n", cgOut, binary)
		if err := os.WriteFile(wrap, []byte(script), 0o755); err != nil {
			return err
		}
		binary = wrap
	}
	env := []string{"ARS_FLUSH_INTERVAL=" + *flush, "GODEBUG=asyncpreemptoff=1"}
	if *buffers != "" {
		env = append(env, "ARS_CAPTURE_BUFFER_DIR="+*buffers)
	}
	d, err := capacity.StartDaemon(ctx, capacity.DaemonConfig{
		Binary: binary, Root: root, Ports: *ports, RcvBuf: 8 << 20, AppID: appID, AppCert: appCert, Env: env,
	})
	if err != nil {
		return err
	}
	defer d.Kill()
	pid := d.PID()

	targets := loadgen.Targets("fc", *channels, 2)
	cl := &loadgen.Client{Base: d.Base, AppID: appID, AppCert: appCert}
	if err := cl.Open(ctx, targets); err != nil {
		return err
	}
	// Warm-up: every capture is opened, the buffers and pools grown.
	wrep, err := loadgen.Send(ctx, tr, targets, loadgen.SendOptions{Duration: *warm, Seed: 1})
	if err != nil {
		return err
	}
	if err := waitReceived(d.Base, wrep.Packets, 60*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)

	before, err := metrics(d.Base)
	if err != nil {
		return err
	}
	if *cg {
		if err := callgrindControl("-z", pid); err != nil {
			return err
		}
	}
	io0, err := procIO(pid)
	if err != nil {
		return err
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	var sent uint64
	if *idle {
		time.Sleep(*dur)
	} else {
		rep, err := loadgen.Send(ctx, tr, targets, loadgen.SendOptions{Duration: *dur, Seed: 2})
		if err != nil {
			return err
		}
		sent = rep.Packets
	}
	time.Sleep(*drain)
	io1, err := procIO(pid)
	if err != nil {
		return err
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	var instr uint64
	if *cg {
		if err := callgrindControl("-d", pid); err != nil {
			return err
		}
	}
	window := time.Since(t0)
	after, err := metrics(d.Base)
	if err != nil {
		return err
	}
	if *cg {
		if instr, err = lastDumpIr(cgOut, pid); err != nil {
			return err
		}
	}
	res := result{
		Flush: *flush, Idle: *idle, Callgrind: *cg, Channels: *channels, WindowS: window.Seconds(), Sent: sent,
		Received:      uint64(after["ars_packets_received_total"] - before["ars_packets_received_total"]),
		Written:       uint64(after["ars_packets_written_total"] - before["ars_packets_written_total"]),
		Dropped:       uint64(after["ars_packets_dropped_total"] - before["ars_packets_dropped_total"]),
		KernelDrops:   uint64(after["ars_udp_kernel_drops_total"] - before["ars_udp_kernel_drops_total"]),
		Instructions:  instr,
		Syscalls:      io1["syscr"] + io1["syscw"] - io0["syscr"] - io0["syscw"],
		WriteSyscalls: io1["syscw"] - io0["syscw"],
		WriteBytes:    io1["wchar"] - io0["wchar"],
		CPUUserS:      cpu1[0] - cpu0[0],
		CPUSysS:       cpu1[1] - cpu0[1],
	}
	_ = cl.Stop(ctx, targets)
	_ = d.Stop(2 * time.Minute)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func callgrindControl(op string, pid int) error {
	out, err := exec.Command("callgrind_control", op, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %w: %s", op, err, out)
	}
	return nil
}

// lastDumpIr reads the instruction total of callgrind's first dump file
// (the one callgrind_control -d wrote: OUT.1).
func lastDumpIr(out string, pid int) (uint64, error) {
	var f *os.File
	var err error
	for range 100 {
		if f, err = os.Open(out + ".1"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "summary: "); ok {
			return strconv.ParseUint(strings.Fields(v)[0], 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "totals: "); ok {
			return strconv.ParseUint(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no totals in %s.1 (pid %d)", out, pid)
}

func procIO(pid int) (map[string]uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok {
			out[k], _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return out, nil
}

// metrics sums every sample of each metric name (labels dropped).
func metrics(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, nil
}

func waitReceived(base string, want uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := metrics(base)
		if err != nil {
			return err
		}
		if uint64(m["ars_packets_received_total"]) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: %v of %d packets received", m["ars_packets_received_total"], want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// procCPU is the process's user and system CPU seconds (/proc/PID/stat
// utime and stime, at 100 ticks per second).
func procCPU(pid int) ([2]float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return [2]float64{}, err
	}
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return [2]float64{u / 100, s / 100}, nil
}
