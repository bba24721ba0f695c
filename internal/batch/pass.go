package batch

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"
)

// Pass is one sweep over the recording root (or over given paths) that
// converts every eligible capture, the way the guide's hourly job does.
// A Pass may run many times, also concurrently with other passes and
// pools: the per-file lock keeps them from converting a file twice.
type Pass struct {
	convert Converter
	logger  *slog.Logger
	s       settings
}

// Report sums up one run of a pass.
type Report struct {
	Converted, Failed, Skipped, Interrupted int
	Files                                   []FileResult
}

// NewPass makes a pass. Options: WithRoot, WithWorkers (default: CPU
// count), WithMaxAge, WithOnPlanned, WithOnDone.
func NewPass(convert Converter, logger *slog.Logger, opts ...Option) *Pass {
	return &Pass{
		convert: convert,
		logger:  logger.With("component", Component),
		s:       newSettings(cpuWorkers(), opts),
	}
}

// Run converts the captures under the root, or, when paths are given,
// those paths (files, or directories searched at any depth) whatever
// their age. Closing drain makes Run start no further capture and return
// once those in progress are done; cancelling ctx aborts those too. The
// error is only for a root that cannot be scanned: per-file failures are
// in the report and the log.
func (p *Pass) Run(ctx context.Context, drain <-chan struct{}, paths ...string) (Report, error) {
	var rep Report
	var mu sync.Mutex
	record := func(fr FileResult, notify bool) {
		logResult(p.logger, fr)
		mu.Lock()
		rep.Files = append(rep.Files, fr)
		switch fr.Status {
		case StatusConverted:
			rep.Converted++
		case StatusFailed:
			rep.Failed++
		case StatusInterrupted:
			rep.Interrupted++
		default:
			rep.Skipped++
		}
		mu.Unlock()
		if notify && p.s.onDone != nil {
			p.s.onDone(fr)
		}
	}

	todo, err := p.plan(paths, record)
	if err != nil {
		return rep, err
	}
	if p.s.onPlanned != nil {
		p.s.onPlanned(len(todo))
	}

	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(p.s.workers, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for src := range jobs {
				record(convertOne(ctx, p.convert, src), true)
			}
		}()
	}
	next := 0
dispatch:
	for ; next < len(todo); next++ {
		// Checked first because a select picks at random among ready
		// cases, and an idle worker must not win over a drain request.
		select {
		case <-drain:
			break dispatch
		default:
		}
		select {
		case jobs <- todo[next]:
		case <-drain:
			break dispatch
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	for _, src := range todo[next:] {
		record(FileResult{Path: src, Status: StatusInterrupted, Reason: ReasonShutdown}, true)
	}
	p.logger.Info("pass done", "converted", rep.Converted, "failed", rep.Failed,
		"skipped", rep.Skipped, "interrupted", rep.Interrupted)
	return rep, nil
}

// plan lists what to try. Captures that are plainly not eligible (already
// converted, too old) are recorded as skipped here so that the planned
// total is what will really be worked on; convertOne checks again.
func (p *Pass) plan(paths []string, record func(FileResult, bool)) ([]string, error) {
	var candidates []string
	explicit := len(paths) > 0
	if explicit {
		seen := map[string]bool{}
		for _, path := range paths {
			found, err := scanPath(path)
			if err != nil {
				record(FileResult{Path: path, Status: StatusFailed, Err: err}, false)
				continue
			}
			for _, f := range found {
				key := f
				if abs, err := filepath.Abs(f); err == nil {
					key = abs
				}
				if !seen[key] {
					seen[key] = true
					candidates = append(candidates, f)
				}
			}
		}
	} else {
		if p.s.root == "" {
			return nil, ErrNoRoot
		}
		found, err := scanRoot(p.s.root)
		if err != nil {
			return nil, err
		}
		candidates = found
	}
	now := time.Now()
	todo := candidates[:0:0]
	for _, src := range candidates {
		mp4, _, ok := outputPaths(src)
		if ok {
			if done, err := exists(mp4); err == nil && done {
				record(FileResult{Path: src, MP4: mp4, Status: StatusSkipped, Reason: ReasonDone}, false)
				continue
			}
		}
		if !explicit {
			old, err := tooOld(src, p.s.maxAge, now)
			if err != nil {
				record(FileResult{Path: src, Status: StatusFailed, Err: err}, false)
				continue
			}
			if old {
				record(FileResult{Path: src, Status: StatusSkipped, Reason: ReasonOld}, false)
				continue
			}
		}
		todo = append(todo, src)
	}
	return todo, nil
}
