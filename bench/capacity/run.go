package capacity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
)

// Config is one capacity series.
type Config struct {
	Daemon   DaemonConfig // Root is replaced per step by a folder under WorkDir
	WorkDir  string
	FloorExe string // runs `FloorExe floor ...`; empty skips the floor
	Tracks   loadgen.Tracks
	Users    int // participants per channel; default 2
	Send     loadgen.SendOptions
	// Settle is how long the idle daemon runs before its baseline memory
	// is read; default 1s.
	Settle time.Duration
	// Warmup is the start of sending left out of the CPU figures (see
	// measuredSend); default 1s, at most a quarter of a short send.
	Warmup time.Duration
	// FloorRuns is how many times the bare receiver runs per step (the
	// median counts); FloorDuration is the sending time of each, default
	// the step's.
	FloorRuns     int
	FloorDuration time.Duration
	// Keep leaves the captures on disk after a step.
	Keep bool
	// Profile takes a CPU profile of the daemon while it receives, into
	// WorkDir/daemon-CHANNELS.pprof (`go tool pprof -top FILE`).
	Profile bool
	Log     *slog.Logger
}

// Floor is the bare receiver's share of a step.
type Floor struct {
	Sent          uint64  `json:"sent"`
	Received      uint64  `json:"received"`
	LossPct       float64 `json:"lossPct"`
	CPUSeconds    float64 `json:"cpuSeconds"`
	CPUPct        float64 `json:"cpuPct"`
	NsPerPacket   float64 `json:"nsPerPacket"`
	KernelDrops   uint64  `json:"kernelDrops"` // RcvbufErrors during the floor run
	MachineCPUPct float64 `json:"machineCpuPct"`
	// Runs is how many floor runs there were; the figures above are the
	// median run's (loss and drops: the worst run's), and the range of
	// their CPU per packet is NsPerPacketMin..NsPerPacketMax.
	Runs           int     `json:"runs"`
	NsPerPacketMin float64 `json:"nsPerPacketMin"`
	NsPerPacketMax float64 `json:"nsPerPacketMax"`
}

// Step is the result for one channel count.
type Step struct {
	Channels     int        `json:"channels"`
	Participants int        `json:"participants"`
	Seconds      float64    `json:"seconds"` // sending time
	Account      Accounting `json:"account"`
	// Kernel drops during the daemon run: /proc/net/snmp deltas and the
	// per-socket drop counters of the daemon's ports.
	RcvbufErrors uint64 `json:"rcvbufErrors"`
	InErrors     uint64 `json:"inErrors"`
	SocketDrops  uint64 `json:"socketDrops"`

	DaemonNice int `json:"daemonNice"`
	// The CPU figures cover this window of the sending time (the first
	// second left out) and the packets sent in it.
	WindowSeconds     float64 `json:"windowSeconds"`
	WindowPackets     uint64  `json:"windowPackets"`
	DaemonCPUSeconds  float64 `json:"daemonCpuSeconds"`
	DaemonCPUPct      float64 `json:"daemonCpuPct"` // of one core
	DaemonNsPerPacket float64 `json:"daemonNsPerPacket"`
	IdleRSS           int64   `json:"idleRss"`
	LoadedRSS         int64   `json:"loadedRss"`
	PeakRSS           int64   `json:"peakRss"`
	RSSPerChannel     float64 `json:"rssPerChannel"` // (loaded - idle) / channels
	Captures          int     `json:"captures"`
	TornCaptures      int     `json:"tornCaptures"`
	DiskBytes         int64   `json:"diskBytes"`
	DiskBPSPerChannel float64 `json:"diskBpsPerChannel"`

	// Machine is the whole machine's busy CPU while sending, in percent
	// of one core (200 is both cores of a 2-core box saturated), and the
	// softirq part of it: on loopback the kernel's receive path runs in
	// softirq, charged to no process.
	MachineCPUPct float64 `json:"machineCpuPct"`
	SoftIRQPct    float64 `json:"softirqPct"`

	// OtherCPUPct is machine CPU used by neither the daemon, the
	// generator nor softirq: writeback, and anything else on the box.
	OtherCPUPct float64 `json:"otherCpuPct"`

	// GenElapsed is how long sending took; GenPaced says the generator
	// kept to its schedule (at most 1% of packets over 10 ms late, and
	// done within 0.5 s of the nominal time). A step where it did not
	// offered less load than nominal and does not count for capacity.
	GenElapsed  float64 `json:"generatorElapsed"`
	GenPaced    bool    `json:"generatorPaced"`
	GenCPUPct   float64 `json:"generatorCpuPct"`
	GenPackets  uint64  `json:"generatorPackets"`
	GenPPS      float64 `json:"generatorPps"`  // achieved: packets / elapsed
	GenMbps     float64 `json:"generatorMbps"` // achieved
	GenMaxLate  float64 `json:"generatorMaxLateMs"`
	GenMeanLate float64 `json:"generatorMeanLateMs"`
	GenLate10ms uint64  `json:"generatorLate10ms"`
	GenErrors   uint64  `json:"generatorSendErrors"`

	// Profile is the daemon's CPU profile of the sending time, if taken.
	Profile string `json:"profile,omitempty"`

	Floor      *Floor  `json:"floor,omitempty"`
	FloorRatio float64 `json:"floorRatio,omitempty"` // daemon ns/packet over floor ns/packet

	Report *loadgen.Report `json:"-"`
}

// RunStep runs the daemon with channels x Users participants, sends for
// the configured time, and accounts for every packet.
func RunStep(ctx context.Context, c Config, channels int) (*Step, error) {
	if c.Users <= 0 {
		c.Users = 2
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "capacity", "channels", channels)
	st := &Step{Channels: channels, Participants: channels * c.Users}

	root := filepath.Join(c.WorkDir, fmt.Sprintf("root-%d", channels))
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, err
	}
	if !c.Keep {
		defer os.RemoveAll(root)
	}
	dc := c.Daemon
	dc.Root = root
	dc.Pprof = dc.Pprof || c.Profile
	d, err := StartDaemon(ctx, dc)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Kill()
		}
	}()
	time.Sleep(c.Settle)
	idle, err := ProcMemory(d.PID())
	if err != nil {
		return nil, err
	}
	st.IdleRSS = idle.RSS
	if st.DaemonNice, err = ProcNice(d.PID()); err != nil {
		return nil, err
	}

	targets := loadgen.Targets(fmt.Sprint(channels), channels, c.Users)
	cl := &loadgen.Client{Base: d.Base, AppID: dc.AppID, AppCert: dc.AppCert}
	t0 := time.Now()
	if err := cl.Open(ctx, targets); err != nil {
		return nil, fmt.Errorf("open %d channels: %w\n%s", channels, err, d.Output())
	}
	log.Info("channels open", "took", time.Since(t0).Round(time.Millisecond))

	snmp0, err := ReadUDPStats()
	if err != nil {
		return nil, err
	}
	drops0, err := socketDrops(d.FirstPort, d.LastPort)
	if err != nil {
		return nil, err
	}
	// The profile covers the sending time but its first and last half
	// second, when streams start and end.
	var profErr chan error
	if c.Profile {
		profErr = make(chan error, 1)
		path := filepath.Join(c.WorkDir, fmt.Sprintf("daemon-%d.pprof", channels))
		secs := max(1, int(c.Send.Duration.Seconds())-1)
		go func() {
			time.Sleep(500 * time.Millisecond)
			profErr <- d.CPUProfile(ctx, secs, path)
		}()
		st.Profile = path
	}
	win, err := measuredSend(ctx, c, targets, d.PID())
	rep := win.rep
	if err != nil {
		return nil, fmt.Errorf("send: %w\n%s", err, d.Output())
	}
	if profErr != nil {
		if err := <-profErr; err != nil {
			return nil, err
		}
	}
	st.Report = rep
	loaded, err := ProcMemory(d.PID())
	if err != nil {
		return nil, err
	}
	st.LoadedRSS, st.PeakRSS = loaded.RSS, loaded.HWM
	st.RSSPerChannel = float64(loaded.RSS-idle.RSS) / float64(channels)

	// Let the daemon empty its socket queues before the recordings stop,
	// or packets still queued would count as lost.
	drain(d.FirstPort, d.LastPort, 15*time.Second)
	drops1, err := socketDrops(d.FirstPort, d.LastPort)
	if err != nil {
		return nil, err
	}
	snmp1, err := ReadUDPStats()
	if err != nil {
		return nil, err
	}
	if err := cl.Stop(ctx, targets); err != nil {
		return nil, fmt.Errorf("stop recordings: %w", err)
	}
	stopped = true
	if err := d.Stop(2 * time.Minute); err != nil {
		return nil, err
	}
	w, err := ReadCaptures(root)
	if err != nil {
		return nil, fmt.Errorf("read captures: %w", err)
	}

	secs := rep.Duration.Seconds()
	du := snmp1.Sub(snmp0)
	st.Seconds = secs
	st.Account = Account(rep, w)
	st.RcvbufErrors, st.InErrors, st.SocketDrops = du.RcvbufErrors, du.InErrors, drops1-drops0
	st.DaemonCPUSeconds = win.receiver.Seconds()
	st.DaemonCPUPct = win.pct(win.receiver)
	st.DaemonNsPerPacket = win.nsPerPacket(win.receiver)
	st.WindowSeconds, st.WindowPackets = win.wall.Seconds(), win.packets
	st.Captures, st.TornCaptures, st.DiskBytes = w.Captures, w.Torn, w.DiskBytes
	st.DiskBPSPerChannel = float64(w.DiskBytes) / secs / float64(channels)
	st.GenCPUPct = win.pct(win.gen)
	st.MachineCPUPct = win.pct(win.mach.Busy)
	st.SoftIRQPct = win.pct(win.mach.SoftIRQ)
	st.OtherCPUPct = max(0, st.MachineCPUPct-st.DaemonCPUPct-st.GenCPUPct-st.SoftIRQPct)
	st.GenElapsed = rep.Elapsed.Seconds()
	st.GenPaced = rep.Late10ms*100 <= rep.Packets && rep.Elapsed <= rep.Duration+500*time.Millisecond
	st.GenPackets = rep.Packets
	st.GenPPS = float64(rep.Packets) / rep.Elapsed.Seconds()
	st.GenMbps = float64(rep.Bytes) * 8 / rep.Elapsed.Seconds() / 1e6
	st.GenMaxLate = float64(rep.MaxLate) / 1e6
	st.GenMeanLate = float64(rep.MeanLate) / 1e6
	st.GenLate10ms = rep.Late10ms
	st.GenErrors = rep.SendErrors
	log.Info("daemon step done", "loss_pct", st.Account.LossPct, "cpu_pct", st.DaemonCPUPct,
		"rss_per_channel", int64(st.RSSPerChannel))

	if c.FloorExe != "" {
		fl, err := floorMedian(ctx, c, targets, d.FirstPort, d.LastPort)
		if err != nil {
			return st, err
		}
		st.Floor = fl
		if fl.NsPerPacket > 0 {
			st.FloorRatio = st.DaemonNsPerPacket / fl.NsPerPacket
		}
		log.Info("floor step done", "loss_pct", fl.LossPct, "cpu_pct", fl.CPUPct)
	}
	return st, nil
}

// window is what the machine did during the measured part of a send.
type window struct {
	rep      *loadgen.Report
	receiver time.Duration // CPU of the receiving process
	gen      time.Duration // CPU of this process (the generator)
	mach     MachineCPU
	wall     time.Duration // length of the window
	packets  uint64        // packets sent in the window
}

func (w window) pct(d time.Duration) float64 { return 100 * d.Seconds() / w.wall.Seconds() }

func (w window) nsPerPacket(d time.Duration) float64 {
	if w.packets == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / float64(w.packets)
}

// measuredSend sends, and measures the CPU the receiving process (pid),
// this process (the generator) and the whole machine use from Warmup after
// the start to the end of sending. The warm-up leaves out what happens
// once per participant (the first packet opens its capture file) so that
// the figures are per packet in the steady state; loss is counted over
// the whole send.
func measuredSend(ctx context.Context, c Config, targets []loadgen.Target, pid int) (window, error) {
	var sent atomic.Uint64
	so := c.Send
	so.Sent = &sent
	warmup := c.Warmup
	if warmup <= 0 {
		warmup = time.Second
	}
	if so.Duration > 0 && warmup >= so.Duration/2 {
		warmup = so.Duration / 4
	}
	type sample struct {
		at       time.Time
		cpu, gen time.Duration
		mach     MachineCPU
		packets  uint64
		err      error
	}
	take := func() sample {
		var s sample
		var err1, err2, err3 error
		s.at = time.Now()
		s.packets = sent.Load()
		s.cpu, err1 = ProcCPU(pid)
		s.gen, err2 = ProcCPU(os.Getpid())
		s.mach, err3 = ReadMachineCPU()
		s.err = errors.Join(err1, err2, err3)
		return s
	}
	first := make(chan sample, 1)
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-time.After(warmup):
			first <- take()
		case <-sendCtx.Done():
			first <- sample{err: sendCtx.Err()}
		}
	}()
	rep, err := loadgen.Send(sendCtx, c.Tracks, targets, so)
	last := take()
	if err != nil {
		return window{rep: rep}, err
	}
	cancel()
	s0 := <-first
	if err := errors.Join(s0.err, last.err); err != nil {
		return window{rep: rep}, err
	}
	return window{rep: rep, receiver: last.cpu - s0.cpu, gen: last.gen - s0.gen, mach: last.mach.Sub(s0.mach),
		wall: last.at.Sub(s0.at), packets: last.packets - s0.packets}, nil
}

// floorMedian runs the bare receiver FloorRuns times for FloorDuration
// each and returns the run with the median CPU per packet. The floor's
// cost is mostly wakeups, so it swings with how the scheduler happens to
// batch its reads from run to run; the median of several is steadier
// than one.
func floorMedian(ctx context.Context, c Config, targets []loadgen.Target, first, last int) (*Floor, error) {
	runs := max(1, c.FloorRuns)
	fc := c
	if c.FloorDuration > 0 {
		fc.Send.Duration = c.FloorDuration
	}
	var all []*Floor
	for range runs {
		fl, err := runFloor(ctx, fc, targets, first, last)
		if err != nil {
			return nil, err
		}
		all = append(all, fl)
	}
	slices.SortFunc(all, func(a, b *Floor) int { return cmp.Compare(a.NsPerPacket, b.NsPerPacket) })
	med := all[len(all)/2]
	med.Runs = runs
	med.NsPerPacketMin, med.NsPerPacketMax = all[0].NsPerPacket, all[len(all)-1].NsPerPacket
	for _, fl := range all {
		med.LossPct = max(med.LossPct, fl.LossPct)
		med.KernelDrops = max(med.KernelDrops, fl.KernelDrops)
	}
	return med, nil
}

// runFloor sends the same load to the bare receiver on the same ports.
func runFloor(ctx context.Context, c Config, targets []loadgen.Target, first, last int) (*Floor, error) {
	f, err := StartFloor(c.FloorExe, first, last, c.Daemon.RcvBuf, c.Daemon.Nice, !c.Daemon.NoGRO)
	if err != nil {
		return nil, err
	}
	snmp0, err := ReadUDPStats()
	if err != nil {
		_, _ = f.Stop()
		return nil, err
	}
	win, err := measuredSend(ctx, c, targets, f.PID())
	rep := win.rep
	if err != nil {
		_, _ = f.Stop()
		return nil, err
	}
	drain(first, last, 15*time.Second)
	snmp1, err := ReadUDPStats()
	if err != nil {
		_, _ = f.Stop()
		return nil, err
	}
	counts, err := f.Stop()
	if err != nil {
		return nil, err
	}
	fl := &Floor{Sent: rep.Packets, Received: counts.Packets, CPUSeconds: win.receiver.Seconds(),
		CPUPct: win.pct(win.receiver), KernelDrops: snmp1.Sub(snmp0).RcvbufErrors,
		MachineCPUPct: win.pct(win.mach.Busy), NsPerPacket: win.nsPerPacket(win.receiver)}
	if rep.Packets > 0 {
		if counts.Packets < rep.Packets {
			fl.LossPct = 100 * float64(rep.Packets-counts.Packets) / float64(rep.Packets)
		}
	}
	return fl, nil
}

func socketDrops(first, last int) (uint64, error) {
	socks, err := ReadUDPSockets(first, last)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, s := range socks {
		n += s.Drops
	}
	return n, nil
}

// drain waits until the sockets on first..last have empty receive queues
// twice in a row, then a little more for packets being processed.
func drain(first, last int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	empty := 0
	for time.Now().Before(deadline) && empty < 2 {
		socks, err := ReadUDPSockets(first, last)
		if err != nil {
			return
		}
		var q uint64
		for _, s := range socks {
			q += s.RxQueue
		}
		if q == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}

// Run runs one step per channel count, in order, and stops early once a
// step loses more than stopAbovePct percent (larger counts would only
// lose more and take longer).
func Run(ctx context.Context, c Config, counts []int, stopAbovePct float64) ([]*Step, error) {
	var out []*Step
	for _, n := range counts {
		st, err := RunStep(ctx, c, n)
		if err != nil {
			return out, fmt.Errorf("%d channels: %w", n, err)
		}
		out = append(out, st)
		if stopAbovePct > 0 && st.Account.LossPct > stopAbovePct {
			break
		}
	}
	return out, nil
}

// Largest is the largest channel count whose loss was at most maxLossPct
// with the generator on schedule, or 0.
func Largest(steps []*Step, maxLossPct float64) int {
	best := 0
	for _, s := range steps {
		if s.GenPaced && s.Account.LossPct <= maxLossPct && s.Channels > best {
			best = s.Channels
		}
	}
	return best
}
