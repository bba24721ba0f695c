package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/daemon"
)

// serveMain is `ars serve`: the configuration from the environment and
// flags, then the daemon (internal/daemon) until a signal.
func serveMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := config.Load(args, os.Getenv, fs)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	ctx, force, stop := signalContext()
	defer stop()
	return daemon.New(cfg, stdout, stderr).Run(ctx, force)
}
