package cluster

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Costs is the cost model of placement, in CPU cores (docs/cluster.md).
// The defaults come from bench/RESULTS.md on a 2-core EPYC: 1000
// two-person channels (2000 participants, 214,700 packets/s) cost the
// daemon 0.83 of a core, 0.000415 a participant, rounded up to 0.0005;
// one two-person 640x360 composite costs ars-mixer 0.162 of a core,
// rounded up to 0.17.
type Costs struct {
	Participant float64
	Composite   float64
	// Target is the share of the machine's cores placement may fill
	// (the rest is left for conversion, uploads and bursts).
	Target float64
}

// DefaultCosts is the model measured in bench/RESULTS.md.
var DefaultCosts = Costs{Participant: 0.0005, Composite: 0.17, Target: 0.7}

// channelCost is what a new channel reserves until the node reports it:
// two participants (the common call).
func (c Costs) channelCost() float64 { return 2 * c.Participant }

// Counts is what a node runs, from its session manager.
type Counts struct {
	Channels, Participants, Composites int
}

// Load is a node's load as its heartbeat reports it.
type Load struct {
	// CPU is the machine's busy share over the last heartbeat (0..1,
	// /proc/stat), Cores its cores.
	CPU          float64 `json:"cpu"`
	Cores        int     `json:"cores"`
	Channels     int     `json:"channels"`
	Participants int     `json:"participants"`
	Composites   int     `json:"composites"`
	// MaxChannels and MaxParticipants are the daemon's limits (0: none).
	MaxChannels     int `json:"maxChannels,omitempty"`
	MaxParticipants int `json:"maxParticipants,omitempty"`
	// Free is the free capacity in cores: Cores*Target less the larger
	// of the measured CPU and the modelled cost of what runs.
	Free float64 `json:"free"`
	// Full: the node takes no new channel.
	Full bool `json:"full"`
}

// compute fills Free and Full.
func (l *Load) compute(c Costs) {
	capacity := float64(l.Cores) * c.Target
	measured := l.CPU * float64(l.Cores)
	modelled := float64(l.Participants)*c.Participant + float64(l.Composites)*c.Composite
	l.Free = capacity - max(measured, modelled)
	l.Full = l.Free < c.channelCost()-1e-9 ||
		(l.MaxChannels > 0 && l.Channels >= l.MaxChannels) ||
		(l.MaxParticipants > 0 && l.Participants+2 > l.MaxParticipants)
}

// cpuSampler measures the machine's busy share between two reads of
// /proc/stat's first line.
type cpuSampler struct {
	mu          sync.Mutex
	busy, total uint64
}

// sample returns the busy share since the last call (0 on the first, or
// without /proc).
func (s *cpuSampler) sample() float64 {
	busy, total, ok := readProcStat()
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prevBusy, prevTotal := s.busy, s.total
	s.busy, s.total = busy, total
	if prevTotal == 0 || total <= prevTotal || busy < prevBusy {
		return 0
	}
	return min(1, float64(busy-prevBusy)/float64(total-prevTotal))
}

// readProcStat reads the "cpu" line: user nice system idle iowait irq
// softirq steal ...; idle and iowait are not busy.
func readProcStat() (busy, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	line := sc.Bytes()
	if !bytes.HasPrefix(line, []byte("cpu ")) {
		return 0, 0, false
	}
	for i, field := range strings.Fields(string(line))[1:] {
		if i >= 8 { // guest time is already in user
			break
		}
		v, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, true
}
