package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/ars-project/ars/internal/storage"
)

func runDump(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: ars dump FILE.tmp [FILE.tmp ...]") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: dump needs a capture file", errUsage)
	}
	for i, path := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if fs.NArg() > 1 {
			fmt.Fprintf(stdout, "== %s\n", path)
		}
		r, err := storage.Open(path)
		if err != nil {
			return err
		}
		s, err := storage.Summarize(r)
		_ = r.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if live, err := storage.IsLive(path); err == nil && live {
			fmt.Fprintln(stdout, "state: being written")
		}
		if err := s.WriteText(stdout); err != nil {
			return err
		}
	}
	return nil
}
