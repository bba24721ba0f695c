package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/mixbench"
)

// runMix is `arsbench mix`: the composite benchmark of issue 13.
func runMix(args []string) error {
	fs := flag.NewFlagSet("mix", flag.ContinueOnError)
	mixer := fs.String("mixer", "bin/ars-mixer", "the ars-mixer binary (empty: the ffmpeg side only)")
	mixerArgs := fs.String("mixer-args", "", "arguments of ars-mixer, space-separated")
	media := fs.String("media", "bench/media/mix", "folder for the encoded inputs (git-ignored, reused)")
	out := fs.String("out", "bench/out/mix", "folder for the composites and mix.json (git-ignored)")
	results := fs.String("results", "bench/RESULTS.md", "Markdown report whose composite section is (re)written")
	duration := fs.Duration("duration", 30*time.Second, "media length of each single composite")
	series := fs.Duration("series-duration", 20*time.Second, "media length of each step of the real-time series")
	maxN := fs.Int("max-composites", 24, "largest step of the real-time series (steps 1, 2, 4, 6, ...)")
	delay := fs.Duration("delay", 500*time.Millisecond, "Config.DelayMs of every live composite")
	preset := fs.String("preset", "veryfast", "x264 preset of the ffmpeg CLI composite (set it to the mixer's)")
	tune := fs.String("tune", "zerolatency", "x264 tune of the ffmpeg CLI composite (empty: none)")
	ffSeries := fs.Bool("ffmpeg-series", true, "run the real-time series with the ffmpeg CLI too")
	quick := fs.Bool("quick", false, "a smoke run: 8 s composites, series up to 3")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		*duration, *series, *maxN = 8*time.Second, 8*time.Second, min(*maxN, 3)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "mixbench")
	work, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	bin := *mixer
	if bin != "" && strings.ContainsRune(bin, '/') {
		if bin, err = filepath.Abs(bin); err != nil {
			return err
		}
	}
	cfg := mixbench.Config{Mixer: bin, MixerArgs: strings.Fields(*mixerArgs), Media: *media, WorkDir: work,
		Duration: *duration, Series: *series, MaxComposites: *maxN, FFmpegSeries: *ffSeries, Delay: *delay,
		X264: mixbench.X264{Preset: *preset, Tune: *tune}, Log: log}
	res, err := mixbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(work, "mix.json"), res); err != nil {
		return err
	}
	m := machine()
	rep := mixbench.Report{
		Command: []string{"make bench   # ... then:", strings.TrimSpace("./bin/arsbench mix " + shellJoin(args))},
		Machine: fmt.Sprintf("%s, %d cores, %.1f GB, Linux %s", m.CPUModel, m.Cores, float64(m.MemBytes)/1e9, m.Kernel),
		Settings: []string{
			fmt.Sprintf("Inputs (per person, encoded once by ffmpeg, cached in %s): a moving testsrc2 pattern with a solid box of the person's colour in the centre, libx264 Baseline, no B-frames, 2 s GOP, SPS/PPS before each keyframe; a sine tone (400, 700, 1000, 1300 Hz) in libopus mono 32 kbit/s, 20 ms packets. Split here into access units and Opus packets.", *media),
			fmt.Sprintf("ars-mixer (%s %s, %s) driven through internal/mixproto exactly as the daemon drives it: live Config (PTS 0 = a CLOCK_MONOTONIC reading 2 s after start, delay %v), one Join per person, a best-fit grid layout (crop), every unit written at the wall time its PTS names, End; MP4 output.", bin, *mixerArgs, toolVersion(bin), *delay),
			fmt.Sprintf("ffmpeg CLI (%s): the same inputs read in real time (-re), scale+crop per window, xstack, amix, libx264 -preset %s -tune %q at the canvas's bitrate (maxrate = bufsize = bitrate), 2 s GOP, AAC at the same rate; MP4 output.", ffmpegVersion(), *preset, *tune),
			"Each output judged by decoding it after all timing: ffmpeg -v error -xerror silent, H.264 + AAC, decoded frames counted against media seconds x fps, each window's centre showing its person's colour at 25/50/75 % of the media, each tone at least 20 dB over an empty band (2.5 kHz).",
			fmt.Sprintf("Single composites: %v of media; series steps: %v each.", *duration, *series),
		},
		Notes: []string{"The box is shared: other work on it (compilers, other tests) shows in the \"other\" column of the series and can end the series early; a run on an idle box is the figure to quote."},
	}
	if err := mixbench.WriteSection(*results, res.Markdown(rep)); err != nil {
		return err
	}
	for _, s := range res.Singles {
		fmt.Printf("%s: ars-mixer %.3f cores (check: %s), ffmpeg CLI %.3f cores (check: %s)\n", s.Scenario,
			s.MixerCores(), orOK(s.MixCheck.Problem, s.Mixer.Err), s.FFmpegCores(), orOK(s.FFCheck.Problem, s.FFmpeg.Err))
	}
	fmt.Printf("sustained in real time: ars-mixer %d, ffmpeg CLI %d two-person 360p composites\nwrote %s\n",
		mixbench.Sustained(res.Series), mixbench.Sustained(res.FFSeries), *results)
	return nil
}

func orOK(problem, err string) string {
	switch {
	case err != "":
		return "did not run: " + err
	case problem != "":
		return problem
	}
	return "ok"
}

func toolVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func ffmpegVersion() string {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		return "ffmpeg version unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// shellJoin quotes the arguments that need it, so the command in the
// report can be pasted.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
