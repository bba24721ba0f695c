package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/storage"
)

// mixOptions are the --mix settings.
type mixOptions struct {
	dir                string
	width, height, fps int
	bitrate            int
	background         string
	mixer              string
	layout             string
	bigUID             string
	layoutConfig       string
}

// arrangement is the --mix layout: Agora's modes, as in mix mode.
func (o mixOptions) arrangement(bg uint32) (layout.Config, error) {
	cfg := layout.Config{Width: o.width, Height: o.height, Background: bg, MaxResolutionUID: o.bigUID}
	mode, err := layout.ParseMode(o.layout)
	if err != nil {
		return cfg, fmt.Errorf("%w: --layout: %v", errUsage, err)
	}
	cfg.Mode = mode
	if o.layoutConfig != "" {
		b, err := os.ReadFile(o.layoutConfig)
		if err != nil {
			return cfg, fmt.Errorf("--layout-config: %w", err)
		}
		var regions []layout.AgoraRegion
		if err := json.Unmarshal(b, &regions); err != nil {
			return cfg, fmt.Errorf("%w: --layout-config %s: %v", errUsage, o.layoutConfig, err)
		}
		for i, r := range regions {
			reg, err := r.Region()
			if err != nil {
				return cfg, fmt.Errorf("%w: --layout-config entry %d: %v", errUsage, i, err)
			}
			cfg.Regions = append(cfg.Regions, reg)
		}
	}
	if cfg.Mode == layout.Custom && len(cfg.Regions) == 0 {
		return cfg, fmt.Errorf("%w: --layout custom needs --layout-config", errUsage)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, nil
}

// errNoCaptures is a --mix directory without finished captures.
var errNoCaptures = errors.New("no finished captures in the directory")

// runMix makes a composite of a finished recording directory: every
// participant laid out as --layout says (by default a best-fit grid),
// following who is present, their
// sound mixed, into DIR/mixed_HHMMSS.mp4, by an ars-mixer process.
func runMix(ctx context.Context, o mixOptions, stdout io.Writer, log *slog.Logger) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	bg, err := layout.ParseColor(o.background)
	if err != nil {
		return fmt.Errorf("--background: %w", err)
	}
	lc, err := o.arrangement(bg)
	if err != nil {
		return err
	}
	start, err := earliestStart(dir)
	if err != nil {
		return err
	}
	name := freeName(dir, "mixed_"+start.Local().Format("150405"))
	bin, err := mixrun.FindBinary(o.mixer)
	if err != nil {
		return err
	}
	var err2 error
	for attempt := 1; attempt <= mixAttempts; attempt++ {
		err2 = mixOnce(ctx, o, dir, name, start, lc, bin, stdout, log)
		if err2 == nil || !errors.Is(err2, mixrun.ErrMixerFailed) || ctx.Err() != nil {
			return err2
		}
		// The input is finished captures: a mixer that crashed (GStreamer
		// 1.22.0's compositor does, rarely) is simply run again.
		log.Warn("the mixer failed; composing again", "attempt", attempt, "error", err2)
		_ = os.Remove(filepath.Join(dir, name))
	}
	return err2
}

// mixAttempts bounds the runs of one offline composite.
const mixAttempts = 3

func mixOnce(ctx context.Context, o mixOptions, dir, name string, start time.Time, lc layout.Config, bin string,
	stdout io.Writer, log *slog.Logger) error {
	cfg := mixproto.Config{OriginUnixMs: start.UnixMilli(),
		Video:  &mixproto.VideoConfig{Width: o.width, Height: o.height, FPS: o.fps, BitrateKbps: o.bitrate},
		Audio:  mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 64},
		Layout: mixproto.Layout{Background: lc.Background},
		OutDir: dir, MP4: &mixproto.MP4Output{Pattern: name}}
	var closed []mixproto.FileClosed
	c, err := mixrun.New(cfg, mixrun.WithBinary(bin), mixrun.WithLogger(log),
		mixrun.WithOnFile(func(f mixproto.FileClosed) { closed = append(closed, f) }))
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	g := mixrun.NewArranger(c, lc)
	info, ferr := mixfeed.OfflineContext(ctx, dir, g)
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cerr := c.Close(cctx)
	if ferr != nil {
		return fmt.Errorf("mix %s: %w", dir, ferr)
	}
	if cerr != nil {
		return fmt.Errorf("mix %s: %w", dir, cerr)
	}
	if len(closed) == 0 {
		return fmt.Errorf("mix %s: the mixer reported no file", dir)
	}
	log.Info("composite written", "file", filepath.Join(dir, name), "participants", len(info.Participants),
		"duration", info.Duration.Round(time.Millisecond))
	_, err = fmt.Fprintln(stdout, filepath.Join(dir, name))
	return err
}

// earliestStart is the start of the directory's earliest finished capture.
func earliestStart(dir string) (time.Time, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+storage.CaptureExt))
	if err != nil {
		return time.Time{}, err
	}
	sort.Strings(paths)
	var first time.Time
	for _, p := range paths {
		if live, _ := storage.IsLive(p); live {
			continue
		}
		r, err := storage.Open(p)
		if err != nil {
			continue
		}
		st := r.Header().Start
		r.Close()
		if first.IsZero() || st.Before(first) {
			first = st
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("%s: %w", dir, errNoCaptures)
	}
	return first, nil
}

// freeName is base.mp4, or base_2.mp4, base_3.mp4 ... when taken: a
// directory can be composed any number of times.
func freeName(dir, base string) string {
	name := base + ".mp4"
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = base + "_" + strconv.Itoa(i) + ".mp4"
	}
}
