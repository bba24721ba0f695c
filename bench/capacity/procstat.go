package capacity

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// it is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ProcCPU returns the user plus system CPU time the process has used.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// ProcNice is the niceness of process pid (its main thread).
func ProcNice(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatNice(b)
}

// parseStatNice reads field 19 (nice) of a /proc/PID/stat line.
func parseStatNice(b []byte) (int, error) {
	f, err := statFields(b, 19)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(f[16])
	if err != nil {
		return 0, fmt.Errorf("%w: nice %q", ErrProc, f[16])
	}
	return n, nil
}

// statFields splits a /proc/PID/stat line after the command name, which
// may hold spaces and parentheses (so fields are counted from the last
// ')'): element 0 is field 3. It fails unless the line has at least
// through fields.
func statFields(b []byte, through int) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("%w: stat without ')'", ErrProc)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f)+2 < through {
		return nil, fmt.Errorf("%w: stat has %d fields", ErrProc, len(f)+2)
	}
	return f, nil
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line.
func parseStatCPU(b []byte) (time.Duration, error) {
	f, err := statFields(b, 15)
	if err != nil {
		return 0, err
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: utime %q stime %q", ErrProc, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS, HWM int64
}

// ProcMemory reads VmRSS and VmHWM of a process.
func ProcMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("%w: %s %q", ErrProc, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%w: %s %q", ErrProc, k, v)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.HWM = n << 10
		}
		found++
	}
	if found != 2 {
		return m, fmt.Errorf("%w: status lacks VmRSS or VmHWM", ErrProc)
	}
	return m, nil
}

// UDPStats are the kernel's UDP counters from /proc/net/snmp.
type UDPStats struct {
	InDatagrams, InErrors, RcvbufErrors uint64
}

// Sub returns the change from an earlier reading.
func (s UDPStats) Sub(o UDPStats) UDPStats {
	return UDPStats{s.InDatagrams - o.InDatagrams, s.InErrors - o.InErrors, s.RcvbufErrors - o.RcvbufErrors}
}

// ReadUDPStats reads the Udp lines of /proc/net/snmp.
func ReadUDPStats() (UDPStats, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return UDPStats{}, err
	}
	return parseSNMP(b)
}

func parseSNMP(b []byte) (UDPStats, error) {
	var names, values []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		if names == nil {
			names = strings.Fields(line)[1:]
		} else {
			values = strings.Fields(line)[1:]
			break
		}
	}
	if names == nil || len(names) != len(values) {
		return UDPStats{}, fmt.Errorf("%w: no Udp counters in snmp", ErrProc)
	}
	var s UDPStats
	want := map[string]*uint64{"InDatagrams": &s.InDatagrams, "InErrors": &s.InErrors, "RcvbufErrors": &s.RcvbufErrors}
	for i, n := range names {
		if p := want[n]; p != nil {
			v, err := strconv.ParseUint(values[i], 10, 64)
			if err != nil {
				return s, fmt.Errorf("%w: Udp %s=%q", ErrProc, n, values[i])
			}
			*p = v
			delete(want, n)
		}
	}
	if len(want) > 0 {
		return s, fmt.Errorf("%w: Udp counters missing", ErrProc)
	}
	return s, nil
}

// SocketStats are one UDP socket's queue and drop count from /proc/net/udp.
type SocketStats struct {
	Port    int
	RxQueue uint64
	Drops   uint64
}

// ReadUDPSockets returns the IPv4 and IPv6 UDP sockets bound to ports in
// first..last.
func ReadUDPSockets(first, last int) ([]SocketStats, error) {
	var out []SocketStats
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		s, err := parseNetUDP(b, first, last)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

func parseNetUDP(b []byte, first, last int) ([]SocketStats, error) {
	var out []SocketStats
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[min(1, len(lines)):] {
		f := strings.Fields(line)
		if len(f) < 13 {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("%w: local address %q", ErrProc, f[1])
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("%w: local address %q", ErrProc, f[1])
		}
		if int(port) < first || int(port) > last {
			continue
		}
		_, rxq, ok := strings.Cut(f[4], ":")
		if !ok {
			return nil, fmt.Errorf("%w: queues %q", ErrProc, f[4])
		}
		rx, err1 := strconv.ParseUint(rxq, 16, 64)
		drops, err2 := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: socket line %q", ErrProc, line)
		}
		out = append(out, SocketStats{Port: int(port), RxQueue: rx, Drops: drops})
	}
	return out, nil
}

// MachineCPU is the whole machine's CPU time by kind, from /proc/stat.
type MachineCPU struct {
	Busy, Idle, SoftIRQ, System, User time.Duration
}

// Sub returns the change from an earlier reading.
func (m MachineCPU) Sub(o MachineCPU) MachineCPU {
	return MachineCPU{m.Busy - o.Busy, m.Idle - o.Idle, m.SoftIRQ - o.SoftIRQ, m.System - o.System, m.User - o.User}
}

// ReadMachineCPU reads the aggregate "cpu" line of /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (MachineCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("%w: /proc/stat starts %q", ErrProc, line)
	}
	// user nice system idle iowait irq softirq [steal guest guest_nice]
	var v [10]uint64
	for i := 1; i < len(f) && i <= len(v); i++ {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("%w: /proc/stat field %q", ErrProc, f[i])
		}
		v[i-1] = n
	}
	d := func(n uint64) time.Duration { return time.Duration(n) * clockTick }
	// guest time is already inside user; steal is time the machine did
	// not have.
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return MachineCPU{Busy: d(busy), Idle: d(v[3] + v[4]), SoftIRQ: d(v[6]), System: d(v[2]), User: d(v[0] + v[1])}, nil
}
