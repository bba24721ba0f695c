package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/transcode"
)

// runWebM converts each capture in paths to CAPTURE.webm beside it: the
// WebM Agora's individual recording writes for VP8, and what Janus'
// janus-pp-rec writes for VP8 and VP9. The file appears under its name
// only once complete (a hidden temporary name until then).
func runWebM(ctx context.Context, paths []string, stdout io.Writer, logger *slog.Logger) error {
	log := logger.With("component", batch.Component)
	failed := 0
	for _, src := range paths {
		if !strings.HasSuffix(src, ".tmp") {
			log.Error("not a capture (.tmp)", "path", src)
			failed++
			continue
		}
		dst := strings.TrimSuffix(src, ".tmp") + ".webm"
		part := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
		res, err := transcode.ConvertFileWebM(ctx, src, part, transcode.WithLogger(logger))
		if err == nil {
			err = os.Rename(part, dst)
		}
		if err != nil {
			_ = os.Remove(part)
			log.Error("webm conversion failed", "capture", src, "err", err)
			failed++
			continue
		}
		if _, err := fmt.Fprintf(stdout, "%s: %s, %d bytes\n", dst, res.MediaDuration.Round(1e6), res.Bytes); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", errFailed, failed, len(paths))
	}
	return nil
}
