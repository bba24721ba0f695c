package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/robfig/cron/v3"
	"golang.org/x/term"

	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/storage"
)

// run is the whole command; main only maps its error to an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, "transcoder", version)
		return err
	}

	logOut := stderr
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, storage.FileMode)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	// A progress bar only for a person watching; cron gets plain lines.
	var bar *progressBar
	if isTerminal(stderr) {
		bar = newProgressBar(stderr)
		if logOut == stderr {
			logOut = bar // log lines are drawn above the bar
		}
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.mix.dir != "" {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-ctx.Done():
			}
		}()
		return runMix(ctx, o.mix, stdout, logger)
	}
	if o.webm {
		return runWebM(ctx, o.paths, stdout, logger)
	}
	drain := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go handleSignals(ctx, sigs, drain, cancel, logger)

	workers := o.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	opts := []batch.Option{batch.WithRoot(o.root), batch.WithWorkers(workers), batch.WithMaxAge(o.maxAge)}
	if bar != nil {
		opts = append(opts, batch.WithOnPlanned(bar.Planned), batch.WithOnDone(bar.Done))
	}
	pass := batch.NewPass(batch.DefaultConverter(), logger, opts...)
	onePass := func() error {
		rep, err := pass.Run(ctx, drain, o.paths...)
		if bar != nil {
			bar.Finish()
		}
		if err != nil {
			logger.Error("transcode error", "component", batch.Component, "err", err)
			return err
		}
		switch {
		case rep.Failed > 0:
			return fmt.Errorf("%w: %d of %d", errFailed, rep.Failed, len(rep.Files))
		case rep.Interrupted > 0 && ctx.Err() != nil:
			return fmt.Errorf("%w: %d captures left", errAborted, rep.Interrupted)
		}
		return nil
	}
	if o.schedule == "" {
		return onePass()
	}
	return runScheduled(ctx, drain, o.schedule, onePass, logger)
}

// runScheduled makes a pass on every tick of spec until a signal. A pass
// still running when the next tick comes makes that tick skip.
func runScheduled(ctx context.Context, drain <-chan struct{}, spec string, onePass func() error, logger *slog.Logger) error {
	cl := cronLogger{logger.With("component", batch.Component)}
	c := cron.New(cron.WithLogger(cl), cron.WithChain(cron.SkipIfStillRunning(cl)))
	id, err := c.AddFunc(spec, func() { _ = onePass() }) // failures are in the log
	if err != nil {
		return fmt.Errorf("%w: --schedule %q: %w", errUsage, spec, err)
	}
	c.Start()
	cl.l.Info("scheduled", "schedule", spec, "next", c.Entry(id).Next)
	select {
	case <-drain:
	case <-ctx.Done():
	}
	<-c.Stop().Done() // a running pass sees drain or ctx itself
	if ctx.Err() != nil {
		return fmt.Errorf("%w: forced stop", errAborted)
	}
	return nil
}

// handleSignals turns the first signal into a drain and the second into
// a forced stop.
func handleSignals(ctx context.Context, sigs <-chan os.Signal, drain chan<- struct{}, cancel context.CancelFunc, logger *slog.Logger) {
	logger = logger.With("component", batch.Component)
	select {
	case s := <-sigs:
		logger.Warn("stopping after the files in progress; signal again to abort them", "signal", s.String())
		close(drain)
	case <-ctx.Done():
		return
	}
	select {
	case s := <-sigs:
		logger.Warn("aborting conversions in progress", "signal", s.String())
		cancel()
	case <-ctx.Done():
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// cronLogger routes robfig/cron's own messages to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("schedule error: "+msg, append(kv, "err", err)...)
}
