package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `usage: ars <command> [flags]

commands:
  serve    run the recording daemon (configuration from AGORA_FILE_ROOT, PORT, ARS_*; flags override)
  key      make or inspect Agora keys: ars key recording|media|token|inspect ...
  start    start recording a channel:  ars start --channel NAME --uid N --key RDK [--tag TEXT]
  stop     stop recording a channel:   ars stop --channel NAME --uid N --key RDK
  status   show a channel's state:     ars status --channel NAME
  dump     summarise a capture file:   ars dump FILE.tmp
  version  print the version

Run 'ars <command> -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain dispatches a command and turns its error into an exit code:
// 0 fine, 1 failed, 2 bad usage.
func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serveMain(rest, stdout, stderr)
	case "key":
		err = runKey(rest, stdout, stderr, time.Now)
	case "start", "stop", "status":
		err = runClient(cmd, rest, stdout, stderr, os.Getenv)
	case "dump":
		err = runDump(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "ars", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "ars: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "ars:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "ars:", err)
		return 1
	}
}

var errUsage = errors.New("usage")

// signalContext is cancelled by the first SIGINT/SIGTERM; force is closed by
// the second, for a shutdown that must not wait any longer.
func signalContext() (ctx context.Context, force <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	forced := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			close(forced)
		case <-done:
		}
	}()
	// stop leaves the signals caught: a second SIGTERM that lands after a
	// graceful stop finished, while the process is exiting, is dropped
	// instead of turning a clean exit into death by signal.
	return ctx, forced, func() {
		close(done)
		cancel()
	}
}
