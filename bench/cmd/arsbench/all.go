package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/convbench"
	"github.com/ars-project/ars/bench/loadgen"
)

// Credentials of the benchmark daemon (a test app, not a secret).
const (
	benchAppID   = "970ca35de60c44645bbae8a215061b33"
	benchAppCert = "5cfd2fd1755d40ecb72977518be15d3b"
)

type allOptions struct {
	ars, transcoder        string
	media, out             string
	results, chart         string
	channels               []int
	users                  int
	duration               time.Duration
	ports, rcvbuf          int
	nice                   int
	profile                bool
	noGRO                  bool
	floorRuns              int
	floorDuration          time.Duration
	workers                int
	videoKbps              int
	mediaSecs              int
	convReps               int
	stopAbove              float64
	skipCapacity, skipConv bool
	findings               string
}

func parseAll(args []string) (allOptions, error) {
	var o allOptions
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.ars, "ars", "bin/ars", "daemon binary")
	fs.StringVar(&o.transcoder, "transcoder", "bin/transcoder", "transcoder binary (timed beside the in-process converter)")
	fs.StringVar(&o.media, "media", "bench/media", "folder for generated media (git-ignored)")
	fs.StringVar(&o.out, "out", "bench/out", "folder for work files and JSON results (git-ignored)")
	fs.StringVar(&o.results, "results", "bench/RESULTS.md", "Markdown report to write")
	fs.StringVar(&o.chart, "chart", "bench/chart.png", "chart to write")
	chans := fs.String("channels", "100,250,500,750,1000,1250", "channel counts of the capacity series")
	fs.IntVar(&o.users, "users", 2, "participants per channel")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "sending time per step")
	fs.IntVar(&o.ports, "ports", 10, "size of the daemon's ARS_RTP_PORTS")
	// The daemon's shipped default (and what deploy.sh's sysctl allows):
	// a larger buffer would hide a stalled packet path (issue 12, finding 4).
	fs.IntVar(&o.rcvbuf, "rcvbuf", 8<<20, "ARS_UDP_RCVBUF (default: the daemon's default)")
	fs.BoolVar(&o.profile, "profile", true, "take a CPU profile of the daemon in every capacity step (bench/out/capacity/daemon-N.pprof)")
	fs.IntVar(&o.floorRuns, "floor-runs", 3, "bare-receiver runs per step (the median counts)")
	fs.DurationVar(&o.floorDuration, "floor-duration", 5*time.Second, "sending time of each bare-receiver run")
	fs.BoolVar(&o.noGRO, "no-gro", false, "turn UDP GRO off in the daemon and the bare receiver")
	fs.IntVar(&o.nice, "receiver-nice", 10, "niceness of the daemon and the bare receiver (the generator stands for the network: it keeps its schedule while they work)")
	fs.IntVar(&o.workers, "workers", 2, "generator sending goroutines")
	fs.IntVar(&o.videoKbps, "video-kbps", 450, "H.264 bitrate")
	fs.IntVar(&o.mediaSecs, "media-seconds", 60, "length of the generated media (the conversion input)")
	fs.IntVar(&o.convReps, "conv-reps", 5, "conversions per tool")
	fs.Float64Var(&o.stopAbove, "stop-above", 2, "stop the series after a step losing more than this percent")
	fs.StringVar(&o.findings, "findings", "bench/findings.md", "hand-written analysis appended to RESULTS.md")
	fs.BoolVar(&o.skipCapacity, "skip-capacity", false, "skip the capacity series")
	fs.BoolVar(&o.skipConv, "skip-conversion", false, "skip the conversion run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*chans, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--channels: %q is not a channel count", s)
		}
		o.channels = append(o.channels, n)
	}
	return o, nil
}

func runAll(args []string) error {
	o, err := parseAll(args)
	if err != nil {
		return err
	}
	if o.skipCapacity && o.skipConv {
		// It would overwrite the results with empty tables.
		return fmt.Errorf("%w: --skip-capacity and --skip-conversion leave nothing to run", errUsage)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "arsbench")
	if err := os.MkdirAll(o.out, 0o750); err != nil {
		return err
	}
	t0 := time.Now()
	m, err := loadgen.EnsureMedia(ctx, o.media, o.mediaOpts())
	if err != nil {
		return err
	}
	tr, err := loadgen.LoadTracks(m.Capture)
	if err != nil {
		return err
	}
	log.Info("media ready", "dir", m.Dir, "took", time.Since(t0).Round(time.Millisecond),
		"video_kbps", int(tr.Video.Bitrate()/1000), "video_pps", int(tr.Video.Rate()), "audio_pps", int(tr.Audio.Rate()))
	res := &results{Started: t0, Media: m, Tracks: tr, Opts: o, Args: args}
	if !o.skipCapacity {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cfg := capacity.Config{
			Daemon: capacity.DaemonConfig{Binary: o.ars, Ports: o.ports, RcvBuf: o.rcvbuf, Nice: o.nice, NoGRO: o.noGRO,
				AppID: benchAppID, AppCert: benchAppCert},
			WorkDir:   filepath.Join(o.out, "capacity"),
			FloorExe:  self,
			Tracks:    tr,
			Users:     o.users,
			Profile:   o.profile,
			FloorRuns: o.floorRuns, FloorDuration: o.floorDuration,
			Send: loadgen.SendOptions{Duration: o.duration, Workers: o.workers, Seed: 1},
			Log:  log,
		}
		steps, err := capacity.Run(ctx, cfg, o.channels, o.stopAbove)
		res.Steps = steps
		if err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(o.out, "capacity.json"), steps); err != nil {
			return err
		}
	}
	if !o.skipConv {
		tools, err := convbench.Run(ctx, convbench.Config{Media: m, Tracks: tr, WorkDir: filepath.Join(o.out, "conversion"),
			Reps: o.convReps, Transcoder: o.transcoder})
		if err != nil {
			return err
		}
		res.Tools = tools
		for _, t := range tools {
			log.Info("conversion", "tool", t.Name, "speed_per_core", int(t.SpeedPerCore), "check", t.Check, "err", t.Err)
		}
		if err := writeJSON(filepath.Join(o.out, "conversion.json"), tools); err != nil {
			return err
		}
	}
	res.Elapsed = time.Since(t0)
	return res.write()
}

// mediaOpts are the media options, defaults filled in.
func (o allOptions) mediaOpts() loadgen.MediaOptions {
	return loadgen.MediaOptions{VideoKbps: o.videoKbps, Duration: time.Duration(o.mediaSecs) * time.Second}.WithDefaults()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o640)
}
