package mixbench

import (
	"fmt"
	"strings"
	"time"

	"github.com/ars-project/ars/bench/mdsection"
)

// Markers of the composite section in bench/RESULTS.md: the section is
// replaced on every run, the rest of the file kept.
const (
	SectionBegin = "<!-- mixbench:begin -->"
	SectionEnd   = "<!-- mixbench:end -->"
)

// TargetCores is issue 13's target for a two-person 360p composite.
const TargetCores = 0.3

// Report is what the Markdown section shows besides the results.
type Report struct {
	Command  []string
	Machine  string
	Settings []string
	Notes    []string
}

// Markdown renders the composite section.
func (r *Result) Markdown(rep Report) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("%s\n## Composite recording (issue 13): CPU per composite, composites per box, ars-mixer vs the ffmpeg CLI\n\n", SectionBegin)
	p("Run %s, took %v, on %s.\n\n```\n%s\n```\n\n", r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second), rep.Machine,
		strings.Join(rep.Command, "\n"))
	for _, s := range rep.Settings {
		p("- %s\n", s)
	}
	p("\n### One composite of each kind, side by side\n\n")
	p("CPU is user+system time of the process per second of media (1.00 = one core busy the whole time). " +
		"ars-mixer: from PTS 0 to the last unit fed (/proc/PID/stat), the steady state of a long recording, and in brackets the whole process's (rusage: start-up and finalising included). " +
		"ffmpeg CLI: inputs read in real time (-re); from 1 s after its start to 0.5 s before the media's end (/proc/PID/stat), and in brackets the whole process's (rusage).\n\n")
	p("| composite | tool | CPU per media second (cores) | whole process | peak RSS | frames / expected | output check |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, s := range r.Singles {
		m := s.Mixer
		p("| %s | ars-mixer | %s | %.2f CPU s / %.1f s | %s | %d / %d | %s |\n", s.Scenario, cores(s.MixerCores(), m.Err),
			m.TotalCPUSeconds, m.MediaSeconds, mb(m.MaxRSS), s.MixCheck.Frames, s.MixCheck.Expected, checkText(s.MixCheck, m.Err))
		f := s.FFmpeg
		p("| %s | ffmpeg CLI | %s | %.2f CPU s / %.1f s | %s | %d / %d | %s |\n", s.Scenario, cores(s.FFmpegCores(), f.Err),
			f.TotalCPUSeconds, f.MediaSeconds, mb(f.MaxRSS), s.FFCheck.Frames, s.FFCheck.Expected, checkText(s.FFCheck, f.Err))
	}
	if len(r.Singles) > 0 {
		s := r.Singles[0]
		verdict := "**not met**"
		switch {
		case s.Mixer.Err != "":
			verdict = "**not measured** (the mixer did not run)"
		case !s.MixCheck.OK():
			verdict = "**not met** (the output fails its check)"
		case s.MixerCores() <= TargetCores:
			verdict = "**met**"
		}
		p("\nTarget (at most %.1f of a core per two-person 360p composite): %s (%.3f cores; ffmpeg CLI %.3f).\n", TargetCores, verdict,
			s.MixerCores(), s.FFmpegCores())
	}
	p("\n### Live composites at once (two people, 640x360 15 fps)\n\n")
	p("N composites made at once in real time, N rising until a step is not real time. ars-mixer: N processes fed in real time together; "+
		"a step is not real time when some output holds fewer than %d%% of the frames real time asks for, runs more than %v behind real time beyond the configured delay, "+
		"fails its output check, or when this harness itself wrote units over %v late. ffmpeg CLI: N processes reading their inputs with -re; "+
		"not real time when one takes over %v longer than the media, holds fewer than %d%% of the frames or fails its check. "+
		"Machine = the whole box's busy CPU over the step (/proc/stat); other = what the composites did not use (this harness and everything else on the box).\n\n",
		minFramesPct, maxLagOver, maxFeedLate, maxLagOver, minFramesPct)
	p("| tool | composites | real time | composites' CPU (cores, sum) | machine busy (cores) | other (cores) | worst frames %% | worst lag | why not |\n|---|---:|---|---:|---:|---:|---:|---:|---|\n")
	for _, s := range append(append([]*Step{}, r.Series...), r.FFSeries...) {
		rt := "yes"
		if !s.RealTime {
			rt = "**no**"
		}
		p("| %s | %d | %s | %.2f | %.2f | %.2f | %.1f | %v | %s |\n", s.Tool, s.N, rt, s.MixerCores, s.MachineCores, s.OtherCores, s.MinFrames,
			s.MaxLag.Round(time.Millisecond), strings.ReplaceAll(s.Why, "|", "/"))
	}
	if len(r.Series) > 0 {
		p("\nSustained in real time by ars-mixer: **%d** two-person 360p composites on this box", Sustained(r.Series))
		if last := r.Series[len(r.Series)-1]; last.RealTime {
			p(" (the series stopped at its largest step, not at a failure)")
		}
		p(".\n")
	} else {
		p("\nars-mixer was not run (no binary given).\n")
	}
	if len(r.FFSeries) > 0 {
		p("Sustained in real time by the ffmpeg CLI: **%d**", Sustained(r.FFSeries))
		if last := r.FFSeries[len(r.FFSeries)-1]; last.RealTime {
			p(" (the series stopped at its largest step, not at a failure)")
		}
		p(".\n")
	}
	if len(rep.Notes) > 0 {
		p("\n")
		for _, n := range rep.Notes {
			p("%s\n\n", n)
		}
	}
	p("%s\n", SectionEnd)
	return b.String()
}

func cores(v float64, err string) string {
	if err != "" {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

func checkText(c Check, err string) string {
	switch {
	case err != "":
		return "did not run: " + strings.ReplaceAll(err, "|", "/")
	case c.OK():
		return fmt.Sprintf("ok (%s + %s, %d/%d window centres, tones %v dB over the empty band)", c.VideoCodec, c.AudioCodec, c.WindowsOK, c.WindowsN, c.ToneDB)
	default:
		return strings.ReplaceAll(c.Problem, "|", "/")
	}
}

// Section is where the composite section sits in bench/RESULTS.md.
func Section() mdsection.Markers { return mdsection.Markers{Begin: SectionBegin, End: SectionEnd} }

// ReadSection returns the composite section of the Markdown file at
// path, markers included, or "" when it has none.
func ReadSection(path string) string { return mdsection.Read(path, Section()) }

// WriteSection puts section into the Markdown file at path, replacing an
// earlier composite section and keeping everything else.
func WriteSection(path, section string) error { return mdsection.Write(path, Section(), section) }
