package main

import (
	"context"
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

	"github.com/ars-project/ars/bench/aacbench"
)

// runAAC is `arsbench aac`: the Opus to AAC benchmark of issue 14.
func runAAC(args []string) error {
	fs := flag.NewFlagSet("aac", flag.ContinueOnError)
	mixer := fs.String("mixer", "bin/ars-mixer", "the ars-mixer binary")
	out := fs.String("out", "bench/out/aac", "folder for the input and outputs (git-ignored)")
	results := fs.String("results", "bench/RESULTS.md", "Markdown report whose transcoder section is (re)written")
	duration := fs.Duration("duration", 30*time.Second, "media per stream")
	streams := fs.String("streams", "1,50", "streams at once in one process, per step fed as fast as possible")
	rtStreams := fs.String("rt-streams", "1,25", "streams at once in one process, per step fed in real time")
	channels := fs.String("channels", "1,2", "AAC output channels, per step")
	kbps := fs.Int("kbps", 48, "AAC bitrate per channel")
	coders := fs.String("coders", "twoloop,fast", "libavcodec AAC coders, per step (twoloop: the default; fast)")
	quick := fs.Bool("quick", false, "a smoke run: 5 s of media, 1 and 10 streams, mono")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		*duration, *streams, *rtStreams, *channels = 5*time.Second, "1,10", "1,10", "1"
	}
	ns, err := ints(*streams)
	if err != nil {
		return err
	}
	rts, err := ints(*rtStreams)
	if err != nil {
		return err
	}
	chs, err := ints(*channels)
	if err != nil {
		return err
	}
	var fast []bool
	for _, c := range strings.Split(*coders, ",") {
		switch strings.TrimSpace(c) {
		case "twoloop":
			fast = append(fast, false)
		case "fast":
			fast = append(fast, true)
		default:
			return fmt.Errorf("%w: coder %q (twoloop or fast)", errUsage, c)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "aacbench")
	work, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(*mixer)
	if err != nil {
		return err
	}
	res, err := aacbench.Run(ctx, aacbench.Config{Mixer: bin, WorkDir: work, Duration: *duration, Streams: ns, RTStreams: rts, Channels: chs, Kbps: *kbps, Fast: fast, Log: log})
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(work, "aac.json"), res); err != nil {
		return err
	}
	m := machine()
	rep := aacbench.Report{
		Command: []string{"make bench   # ... then:", strings.TrimSpace("./bin/arsbench aac " + shellJoin(args))},
		Machine: fmt.Sprintf("%s, %d cores, %.1f GB, Linux %s", m.CPUModel, m.Cores, float64(m.MemBytes)/1e9, m.Kernel),
		Cores:   m.Cores,
	}
	if err := aacbench.WriteSection(*results, res.Markdown(rep)); err != nil {
		return err
	}
	for _, s := range res.Steps {
		fmt.Printf("real time %v, %d streams, %d ch, fast %v: %.5f CPU s per audio s (check: %s)\n", s.RealTime, s.Streams, s.Channels,
			s.Fast, s.CPUPerAudioSecond(), s.Check)
	}
	fmt.Printf("wrote %s\n", *results)
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: %q is not a positive count", errUsage, f)
		}
		out = append(out, n)
	}
	return out, nil
}
