package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ars-project/ars/internal/batch"
)

// options is the parsed command line.
type options struct {
	root     string
	workers  int
	maxAge   time.Duration
	logFile  string
	schedule string
	verbose  bool
	version  bool
	webm     bool
	paths    []string
	mix      mixOptions
}

// parseArgs parses flags and PATHs, which may be interleaved.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	var once bool
	fs := flag.NewFlagSet("transcoder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.root, "root", os.Getenv("AGORA_FILE_ROOT"), "recording root (default $AGORA_FILE_ROOT)")
	fs.IntVar(&o.workers, "workers", 0, "captures converted at once (default: CPU count)")
	fs.DurationVar(&o.maxAge, "max-age", batch.DefaultMaxAge, "skip captures modified longer ago than this (0: no limit)")
	fs.StringVar(&o.logFile, "log", "", "append the log to this file instead of stderr")
	fs.BoolVar(&once, "once", false, "make one pass and exit (the default)")
	fs.StringVar(&o.schedule, "schedule", "", `keep running, making a pass on this cron schedule, e.g. "@hourly"`)
	fs.BoolVar(&o.verbose, "verbose", false, "also log skipped captures")
	fs.StringVar(&o.mix.dir, "mix", "", "make a composite of this finished recording directory: DIR/mixed_HHMMSS.mp4")
	fs.IntVar(&o.mix.width, "width", 640, "composite width (--mix)")
	fs.IntVar(&o.mix.height, "height", 360, "composite height (--mix)")
	fs.IntVar(&o.mix.fps, "fps", 15, "composite frame rate (--mix)")
	fs.IntVar(&o.mix.bitrate, "bitrate", 500, "composite video bitrate in kbit/s (--mix)")
	fs.StringVar(&o.mix.background, "background", "#000000", "canvas colour #RRGGBB (--mix)")
	fs.StringVar(&o.mix.layout, "layout", "bestfit", "composite layout (--mix): floating, bestfit, vertical, custom, or Agora's mixedVideoLayout 0-3")
	fs.StringVar(&o.mix.bigUID, "max-resolution-uid", "", "the uid shown large (--mix --layout floating or vertical; Agora's maxResolutionUid)")
	fs.StringVar(&o.mix.layoutConfig, "layout-config", "", "a JSON file holding Agora's layoutConfig array, for --layout custom")
	fs.StringVar(&o.mix.mixer, "mixer", os.Getenv("ARS_MIXER_BIN"), "the ars-mixer binary (default $ARS_MIXER_BIN, else next to transcoder, else PATH)")
	fs.BoolVar(&o.webm, "webm", false, "write CAPTURE.webm (VP8/VP9/AV1 and Opus) beside each capture PATH given, instead of an MP4")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: transcoder [--root DIR] [--workers N] [--max-age 72h] [--log FILE] [--once | --schedule SPEC] [PATH...]")
		fs.PrintDefaults()
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, flag.ErrHelp
			}
			return o, fmt.Errorf("%w: %w", errUsage, errReported)
		}
		if fs.NArg() == 0 {
			break
		}
		o.paths = append(o.paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case o.version:
		return o, nil
	case once && o.schedule != "":
		return o, fmt.Errorf("%w: --once and --schedule exclude each other", errUsage)
	case o.workers < 0:
		return o, fmt.Errorf("%w: --workers must not be negative", errUsage)
	case o.maxAge < 0:
		return o, fmt.Errorf("%w: --max-age must not be negative", errUsage)
	case o.webm && (len(o.paths) == 0 || o.schedule != "" || o.mix.dir != ""):
		return o, fmt.Errorf("%w: --webm converts the capture PATHs given, without --schedule or --mix", errUsage)
	case o.root == "" && len(o.paths) == 0 && o.mix.dir == "":
		return o, fmt.Errorf("%w: no recording root: set AGORA_FILE_ROOT or give --root or PATHs", errUsage)
	}
	if o.schedule != "" {
		if _, err := cron.ParseStandard(o.schedule); err != nil {
			return o, fmt.Errorf("%w: --schedule %q: %w", errUsage, o.schedule, err)
		}
	}
	return o, nil
}
