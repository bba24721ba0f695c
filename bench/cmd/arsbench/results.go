package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/convbench"
	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/bench/mdsection"
	"github.com/ars-project/ars/bench/mixbench"
	"github.com/ars-project/ars/bench/report"
)

type results struct {
	Started time.Time
	Elapsed time.Duration
	Media   loadgen.Media
	Tracks  loadgen.Tracks
	Opts    allOptions
	Args    []string
	Steps   []*capacity.Step
	Tools   []*convbench.Tool
}

func (r *results) write() error {
	o := r.Opts
	in := report.Input{
		Date: r.Started, Elapsed: r.Elapsed, Machine: machine(),
		Commands: []string{
			"make bench   # make build; go build -o bin/arsbench ./bench/cmd/arsbench; then:",
			strings.TrimSpace("./bin/arsbench run " + strings.Join(r.Args, " ")),
		},
		Settings: []string{
			fmt.Sprintf("Media: %dx%d %d fps H.264 Baseline at %d kbit/s (measured %.0f kbit/s RTP, %.1f pkt/s) + Opus %d kbit/s 20 ms (%.1f pkt/s), %v loop, encoded once by ffmpeg (libx264, libopus) into %s",
				o.mediaOpts().Width, o.mediaOpts().Height, o.mediaOpts().FPS, o.videoKbps, r.Tracks.Video.Bitrate()/1e3, r.Tracks.Video.Rate(),
				o.mediaOpts().AudioKbps, r.Tracks.Audio.Rate(), r.Media.Duration, r.Media.Dir),
			fmt.Sprintf("Capacity steps: %d participants per channel, %v of sending each; daemon with ARS_RTP_PORTS of %d ports, ARS_UDP_RCVBUF=%d, ARS_TRANSCODE_ON_STOP=false, loopback only, ARS_UDP_GRO=%v, at niceness %d (the generator stands for the network: it keeps its schedule, and a receiver that falls behind shows it as loss); generator in the arsbench process with %d sending goroutines (connected sockets, sendmmsg; a video frame's fragments as one UDP GSO message, which the receivers' GRO takes whole, as a NIC's GRO would merge them)",
				o.users, o.duration, o.ports, o.rcvbuf, !o.noGRO, o.nice, o.workers),
			fmt.Sprintf("Conversion: %d runs per tool of the %v media", o.convReps, r.Media.Duration),
		},
		NominalPPSPerParticipant: r.Tracks.Video.Rate() + r.Tracks.Audio.Rate(),
		Steps:                    r.Steps,
		Tools:                    r.Tools,
		Notes:                    r.notes(),
	}
	if len(r.Steps) > 0 && o.chart != "" {
		if err := report.WriteCapacityChart(o.chart, r.Steps); err != nil {
			return err
		}
		in.ChartFile = "chart.png"
	}
	md := in
	if o.findings != "" {
		if b, err := os.ReadFile(o.findings); err == nil {
			md.Notes = append(md.Notes, strings.TrimSpace(string(b)))
		}
	}
	// The codec (arsbench conv) and composite (arsbench mix) sections are
	// separate runs': keep them, in that order.
	kept := []struct {
		m    mdsection.Markers
		text string
	}{
		{convbench.CodecSection(), mdsection.Read(o.results, convbench.CodecSection())},
		{mixbench.Section(), mdsection.Read(o.results, mixbench.Section())},
	}
	if err := report.WriteMarkdown(o.results, md); err != nil {
		return err
	}
	for _, k := range kept {
		if k.text == "" {
			continue
		}
		if err := mdsection.Write(o.results, k.m, k.text); err != nil {
			return err
		}
	}
	h := report.Headlines(in)
	fmt.Printf("largest channel count with loss <= 0.1%% (generator on schedule): %d\n", h.Channels)
	fmt.Printf("RSS per channel there: %.2f MB; daemon/floor CPU per packet: %.2fx; daemon CPU %.0f%% of a core\n", h.RSSPerChannel/1e6, h.FloorRatio, h.DaemonCPUPct)
	fmt.Printf("conversion: %.0fx real time per core; %.1fx ffmpeg -c copy; %.1fx janus-pp-rec\n", h.ConvSpeedPerCore, h.VsFFmpeg, h.VsJanus)
	fmt.Printf("wrote %s\n", o.results)
	return nil
}

// notes are the findings the numbers themselves support.
func (r *results) notes() []string {
	var out []string
	for _, s := range r.Steps {
		if !s.GenPaced {
			late := 0.0
			if s.GenPackets > 0 {
				late = float64(s.GenLate10ms) * 100 / float64(s.GenPackets)
			}
			out = append(out, fmt.Sprintf("At %d channels the generator was off schedule (%.1f s to send %.0f s, %.1f%% of packets over 10 ms late, mean lateness %.0f ms; "+
				"machine %.0f%% of %d00%%: daemon %.0f%%, generator %.0f%%, softirq %.0f%%, other %.0f%%). It offered %.0f pkt/s; "+
				"this step does not count for capacity.",
				s.Channels, s.GenElapsed, s.Seconds, late, s.GenMeanLate, s.MachineCPUPct, runtime.NumCPU(), s.DaemonCPUPct, s.GenCPUPct, s.SoftIRQPct, s.OtherCPUPct, s.GenPPS))
		}
		if s.Account.Extra > 0 || s.TornCaptures > 0 {
			out = append(out, fmt.Sprintf("At %d channels the captures held %d packets nobody sent or duplicates, and %d torn captures.", s.Channels, s.Account.Extra, s.TornCaptures))
		}
	}
	var profiles []string
	for _, s := range r.Steps {
		if s.Profile != "" {
			profiles = append(profiles, s.Profile)
		}
	}
	if len(profiles) > 0 {
		out = append(out, fmt.Sprintf("Daemon CPU profiles of the sending time (pprof, self-symbolized): %s; read one with `go tool pprof -top FILE`.",
			strings.Join(profiles, ", ")))
	}
	for _, t := range r.Tools {
		if t.Err != "" {
			out = append(out, fmt.Sprintf("Conversion tool %q did not run: %s", t.Name, t.Err))
		}
	}
	return out
}

func machine() report.Machine {
	m := report.Machine{Cores: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		m.MemBytes = int64(si.Totalram) * int64(si.Unit)
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}
