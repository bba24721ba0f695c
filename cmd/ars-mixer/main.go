// Command ars-mixer is the compositor process of ars: it reads one
// composite's media and layout from stdin (internal/mixproto), decodes,
// lays out, mixes and encodes them with GStreamer, writes the output files
// and reports them on stdout. The daemon and the transcoder start it; a
// crash here costs one composite, never the capture daemon.
//
// With --snapshotter it is instead a cloud recording's snapshot taker: it
// turns single keyframes into JPEGs (mixer.RunSnapshotter). With
// --audio-transcoder it is the audio transcoder (internal/aacproc): many
// Opus streams in, AAC access units out. With --web-recorder it records
// one web page (mixer.RunWebRecorder): Chromium on a private Xvfb and
// PulseAudio, encoded into the compositor's outputs.
//
// The first SIGTERM finishes and finalises the outputs (flushes every
// stream); a second exits at once.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ars-project/ars/internal/aacproc"
	"github.com/ars-project/ars/internal/mixer"
)

// version is set at build time (-X main.version=...).
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ars-mixer:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	snapshotter, transcoder, web := false, false, false
	for _, a := range args {
		switch a {
		case "--snapshotter":
			snapshotter = true
		case "--audio-transcoder":
			// Opus streams in, AAC units out (internal/aacproc).
			transcoder = true
		case "--web-recorder":
			web = true
		case "-v", "--verbose":
			level = slog.LevelDebug
		case "--version":
			fmt.Fprintln(stderr, "ars-mixer", version)
			return nil
		case "-h", "--help":
			fmt.Fprintln(stderr, "usage: ars-mixer [-v] [--snapshotter | --audio-transcoder | --web-recorder] < mixproto frames > mixproto frames (started by ars and transcoder)")
			return nil
		default:
			return fmt.Errorf("unknown argument %q", a)
		}
	}
	component := "mixer"
	if transcoder {
		component = "aacproc"
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", component)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		cancel()
		<-sigs
		log.Warn("second signal: exiting without finalising")
		os.Exit(2)
	}()
	if n := btoi(snapshotter) + btoi(transcoder) + btoi(web); n > 1 {
		return fmt.Errorf("--snapshotter, --audio-transcoder and --web-recorder are roles: pick one")
	}
	if web {
		return mixer.RunWebRecorder(ctx, stdin, stdout, log.With("role", "web-recorder"))
	}
	if snapshotter {
		return mixer.RunSnapshotter(ctx, stdin, stdout, log.With("role", "snapshotter"))
	}
	if transcoder {
		return aacproc.Run(ctx, stdin, stdout, log)
	}
	return mixer.Run(ctx, stdin, stdout, log)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
