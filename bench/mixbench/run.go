package mixbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/internal/mixproto"
)

// Config is one benchmark run.
type Config struct {
	Mixer     string   // the ars-mixer binary; empty: the ffmpeg side only
	MixerArgs []string // its arguments
	Media     string   // folder for the encoded inputs (cached)
	WorkDir   string   // absolute folder for the composites
	// Duration is the media length of each single composite; Series the
	// length of each step of the real-time series.
	Duration, Series time.Duration
	// MaxComposites ends the series; the series stops earlier at the
	// first step that is not real time.
	MaxComposites int
	// FFmpegSeries runs the same series with the ffmpeg CLI.
	FFmpegSeries bool
	Delay        time.Duration // Config.DelayMs of every composite
	X264         X264          // the ffmpeg side's settings (the mixer's own are its own)
	Log          *slog.Logger
}

// Single is one scenario composed once by each tool.
type Single struct {
	Scenario string        `json:"scenario"`
	Mixer    *LiveResult   `json:"mixer"`
	MixCheck Check         `json:"mixerCheck"`
	FFmpeg   *FFmpegResult `json:"ffmpeg"`
	FFCheck  Check         `json:"ffmpegCheck"`
}

// MixerCores is the mixer's CPU per second of media, in cores.
func (s *Single) MixerCores() float64 { return ratio(s.Mixer.CPUSeconds, s.Mixer.MediaSeconds) }

// FFmpegCores is ffmpeg's CPU per second of media, in cores, over the
// same steady-state window as the mixer's when it has one.
func (s *Single) FFmpegCores() float64 {
	if s.FFmpeg.SteadySeconds > 0 {
		return ratio(s.FFmpeg.SteadyCPUSeconds, s.FFmpeg.SteadySeconds)
	}
	return ratio(s.FFmpeg.TotalCPUSeconds, s.FFmpeg.MediaSeconds)
}

// Step is N live composites of the first scenario at once.
type Step struct {
	N       int             `json:"n"`
	Tool    string          `json:"tool"`
	Results []*LiveResult   `json:"results,omitempty"`
	FFmpeg  []*FFmpegResult `json:"ffmpeg,omitempty"`
	Checks  []Check         `json:"checks"`
	// MixerCores is the sum of the composites' CPU per media second.
	MixerCores float64 `json:"mixerCores"`
	// MachineCores is the whole box's busy CPU over the step, in cores,
	// and OtherCores the part no mixer used (this harness, other users).
	MachineCores float64 `json:"machineCores"`
	OtherCores   float64 `json:"otherCores"`
	MinFrames    float64 `json:"minFramesPct"` // worst output frames / expected, percent
	MaxLag       time.Duration
	MaxFeedLate  time.Duration
	RealTime     bool   `json:"realTime"`
	Why          string `json:"why,omitempty"` // why not real time
}

// Result is the whole run.
type Result struct {
	Started  time.Time `json:"started"`
	Elapsed  time.Duration
	Singles  []*Single  `json:"singles"`
	Series   []*Step    `json:"series"`
	FFSeries []*Step    `json:"ffmpegSeries"`
	Scenario []Scenario `json:"scenarios"`
}

// Sustained is the largest real-time step of a series.
func Sustained(series []*Step) int {
	n := 0
	for _, s := range series {
		if s.RealTime {
			n = max(n, s.N)
		}
	}
	return n
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Run runs every scenario once through the mixer and once through the
// ffmpeg CLI, then the real-time series of the first scenario.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.Mixer != "" {
		if _, err := exec.LookPath(c.Mixer); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoMixer, c.Mixer, err)
		}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	res := &Result{Started: time.Now(), Scenario: Scenarios(c.Duration)}
	for i, s := range res.Scenario {
		inputs, err := ensureInputs(ctx, c.Media, s)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(c.WorkDir, fmt.Sprintf("single-%d", i))
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		one := &Single{Scenario: s.Name}
		one.Mixer = &LiveResult{Err: "no ars-mixer given"}
		if c.Mixer != "" {
			one.Mixer = runLive(ctx, c, s, inputs, filepath.Join(dir, "mixer"), time.Now().Add(2*time.Second))
		}
		wins := windowsOf(s, inputs)
		one.FFmpeg = RunFFmpeg(ctx, filepath.Join(dir, "ffmpeg"), s, c.X264, inputs, wins, true)
		// Judge after both ran, so that checking competes with neither.
		one.MixCheck = checkLive(ctx, s, inputs, one.Mixer)
		if one.FFmpeg.Err == "" {
			one.FFCheck = CheckOutput(ctx, one.FFmpeg.Output, s.Canvas, wins, people(inputs), s.Input.Duration)
		}
		c.Log.Info("single composite", "scenario", s.Name, "mixer_cores", fmt.Sprintf("%.3f", one.MixerCores()),
			"mixer_check", one.MixCheck.Problem, "mixer_err", one.Mixer.Err,
			"ffmpeg_cores", fmt.Sprintf("%.3f", one.FFmpegCores()), "ffmpeg_check", one.FFCheck.Problem, "ffmpeg_err", one.FFmpeg.Err)
		res.Singles = append(res.Singles, one)
	}
	s := Scenarios(c.Series)[0]
	inputs, err := ensureInputs(ctx, c.Media, s)
	if err != nil {
		return nil, err
	}
	series := func(tool string, step func(n int) *Step) []*Step {
		var out []*Step
		for n := 1; n <= c.MaxComposites && ctx.Err() == nil; n = nextStep(n) {
			st := step(n)
			c.Log.Info("series step", "tool", tool, "composites", n, "real_time", st.RealTime, "why", st.Why,
				"cores", fmt.Sprintf("%.2f", st.MixerCores), "machine_cores", fmt.Sprintf("%.2f", st.MachineCores),
				"min_frames_pct", fmt.Sprintf("%.1f", st.MinFrames), "max_lag", st.MaxLag)
			out = append(out, st)
			if !st.RealTime {
				break
			}
		}
		return out
	}
	if c.Mixer != "" {
		res.Series = series(ToolMixer, func(n int) *Step { return runStep(ctx, c, s, inputs, n) })
	}
	if c.FFmpegSeries {
		res.FFSeries = series(ToolFFmpeg, func(n int) *Step { return runFFStep(ctx, c, s, inputs, n) })
	}
	res.Elapsed = time.Since(res.Started)
	return res, ctx.Err()
}

func ensureInputs(ctx context.Context, root string, s Scenario) ([]*Input, error) {
	var out []*Input
	for _, p := range People[:s.People] {
		in, err := EnsureInput(ctx, root, s.Input, p)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func people(inputs []*Input) []Person {
	out := make([]Person, len(inputs))
	for i, in := range inputs {
		out[i] = in.Person
	}
	return out
}

func windowsOf(s Scenario, inputs []*Input) []mixproto.Window {
	srcs := make([]uint32, len(inputs))
	for i, in := range inputs {
		srcs[i] = in.Source
	}
	return Grid(s.Canvas.Width, s.Canvas.Height, len(inputs), srcs)
}

func runLive(ctx context.Context, c Config, s Scenario, inputs []*Input, dir string, origin time.Time) *LiveResult {
	// A mixer that stops reading must not hang the benchmark.
	ctx, cancel := context.WithTimeout(ctx, time.Until(origin)+s.Input.Duration+2*time.Minute)
	defer cancel()
	return RunLive(ctx, &LiveRun{Binary: c.Mixer, Args: c.MixerArgs, Dir: dir, Scenario: s, Inputs: inputs,
		Origin: origin, Delay: c.Delay})
}

func checkLive(ctx context.Context, s Scenario, inputs []*Input, r *LiveResult) Check {
	if r.Err != "" {
		return Check{Problem: "mixer: " + r.Err}
	}
	return CheckOutput(ctx, r.Output, s.Canvas, windowsOf(s, inputs), people(inputs), time.Duration(r.MediaSeconds*float64(time.Second)))
}

// Real-time criteria of a series step.
const (
	minFramesPct = 99                     // output frames / frames real time asks for
	maxLagOver   = time.Second            // lag beyond the configured delay
	maxFeedLate  = 100 * time.Millisecond // harness lateness that voids the step
)

func runStep(ctx context.Context, c Config, s Scenario, inputs []*Input, n int) *Step {
	st := &Step{N: n, Tool: ToolMixer, Results: make([]*LiveResult, n), MinFrames: 100}
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("series-%d", n))
	_ = os.RemoveAll(dir)
	origin := time.Now().Add(2 * time.Second)
	t0 := time.Now()
	m0, _ := capacity.ReadMachineCPU()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Staggered by a fraction of a frame: composites of
			// different channels do not start on the same instant.
			o := origin.Add(time.Duration(i) * time.Second / time.Duration(s.Canvas.FPS*n))
			st.Results[i] = runLive(ctx, c, s, inputs, filepath.Join(dir, fmt.Sprintf("c%d", i)), o)
		}()
	}
	wg.Wait()
	m1, _ := capacity.ReadMachineCPU()
	wall := time.Since(t0).Seconds()
	var why []string
	var mixerCPU float64
	for i, r := range st.Results {
		st.MixerCores += ratio(r.CPUSeconds, r.MediaSeconds)
		mixerCPU += r.TotalCPUSeconds
		st.MaxLag = max(st.MaxLag, r.MaxLag)
		st.MaxFeedLate = max(st.MaxFeedLate, r.FeedLate)
		ch := checkLive(ctx, s, inputs, r)
		st.Checks = append(st.Checks, ch)
		if ch.Expected > 0 {
			st.MinFrames = min(st.MinFrames, 100*float64(ch.Frames)/float64(ch.Expected))
		}
		if !ch.OK() {
			why = append(why, fmt.Sprintf("composite %d: %s", i, ch.Problem))
		}
	}
	// Whole-box CPU over the step (every process's lifetime falls in
	// it): what the mixers used and what everything else did.
	st.MachineCores = ratio(m1.Sub(m0).Busy.Seconds(), wall)
	st.OtherCores = max(0, st.MachineCores-ratio(mixerCPU, wall))
	if st.MinFrames < minFramesPct {
		why = append(why, fmt.Sprintf("%.1f%% of the frames", st.MinFrames))
	}
	if st.MaxLag > c.Delay+maxLagOver {
		why = append(why, fmt.Sprintf("output %v behind real time", st.MaxLag.Round(time.Millisecond)))
	}
	if st.MaxFeedLate > maxFeedLate {
		why = append(why, fmt.Sprintf("the feeder itself ran %v late", st.MaxFeedLate.Round(time.Millisecond)))
	}
	st.RealTime = len(why) == 0
	st.Why = strings.Join(why, "; ")
	return st
}

// Tools of a series.
const (
	ToolMixer  = "ars-mixer"
	ToolFFmpeg = "ffmpeg CLI"
)

// runFFStep is a series step of n ffmpeg CLI composites reading their
// inputs in real time at once. ffmpeg has no output clock to lag: a step
// is real time when every process finishes within maxLagOver of the
// media's length and writes the frames real time asks for.
func runFFStep(ctx context.Context, c Config, s Scenario, inputs []*Input, n int) *Step {
	st := &Step{N: n, Tool: ToolFFmpeg, FFmpeg: make([]*FFmpegResult, n), MinFrames: 100}
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("ffseries-%d", n))
	_ = os.RemoveAll(dir)
	wins := windowsOf(s, inputs)
	t0 := time.Now()
	m0, _ := capacity.ReadMachineCPU()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.FFmpeg[i] = RunFFmpeg(ctx, filepath.Join(dir, fmt.Sprintf("c%d", i)), s, c.X264, inputs, wins, true)
		}()
	}
	wg.Wait()
	m1, _ := capacity.ReadMachineCPU()
	wall := time.Since(t0).Seconds()
	var why []string
	var cpu float64
	for i, r := range st.FFmpeg {
		st.MixerCores += ratio(r.TotalCPUSeconds, r.MediaSeconds)
		cpu += r.TotalCPUSeconds
		st.MaxLag = max(st.MaxLag, time.Duration((r.WallSeconds-r.MediaSeconds)*float64(time.Second)))
		var ch Check
		if r.Err != "" {
			ch = Check{Problem: "ffmpeg: " + r.Err}
		} else {
			ch = CheckOutput(ctx, r.Output, s.Canvas, wins, people(inputs), s.Input.Duration)
		}
		st.Checks = append(st.Checks, ch)
		if ch.Expected > 0 {
			st.MinFrames = min(st.MinFrames, 100*float64(ch.Frames)/float64(ch.Expected))
		}
		if !ch.OK() {
			why = append(why, fmt.Sprintf("composite %d: %s", i, ch.Problem))
		}
	}
	st.MachineCores = ratio(m1.Sub(m0).Busy.Seconds(), wall)
	st.OtherCores = max(0, st.MachineCores-ratio(cpu, wall))
	if st.MinFrames < minFramesPct {
		why = append(why, fmt.Sprintf("%.1f%% of the frames", st.MinFrames))
	}
	if st.MaxLag > maxLagOver {
		why = append(why, fmt.Sprintf("took %v longer than the media", st.MaxLag.Round(time.Millisecond)))
	}
	st.RealTime = len(why) == 0
	st.Why = strings.Join(why, "; ")
	return st
}

// nextStep is the series' next composite count: 1, 2, then by twos.
func nextStep(n int) int {
	if n < 2 {
		return n + 1
	}
	return n + 2
}
