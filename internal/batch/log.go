package batch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
)

// Component is the slog component attribute of everything this package logs.
const Component = "transcoder"

// msgFailed is the message of every failure line. It carries the
// lowercase word the ARS guide tells operators to grep for; no other line
// this package writes contains it.
const msgFailed = "transcode error"

// logResult writes the one line a capture gets: a success line with
// what was produced, a failure line containing "error", or a quieter
// line for skips and interruptions.
func logResult(logger *slog.Logger, fr FileResult) {
	switch fr.Status {
	case StatusConverted:
		r := fr.Result
		var video, audio int
		for _, t := range r.Tracks {
			switch t.Kind {
			case storage.KindVideo:
				video += t.Samples
			case storage.KindAudio:
				audio += t.Samples
			}
		}
		attrs := []slog.Attr{
			slog.String("file", fr.Path),
			slog.Duration("duration", r.MediaDuration.Round(time.Millisecond)),
			slog.Int("tracks", len(r.Tracks)),
			slog.Int("video_frames", video),
			slog.Int("audio_frames", audio),
			slog.Int64("bytes", r.Bytes),
			slog.Duration("took", fr.Elapsed.Round(time.Millisecond)),
			slog.String("speed", speed(r.MediaDuration, fr.Elapsed)),
			slog.String("detail", trackDetail(r.Tracks)),
		}
		if r.Dropped > 0 {
			attrs = append(attrs, slog.Int("packets", r.Packets), slog.Int("dropped", r.Dropped))
		}
		if r.Torn {
			// A cut capture still converts up to the cut; worth a warning,
			// not a failure.
			attrs = append(attrs, slog.Bool("torn", true))
			logger.LogAttrs(context.Background(), slog.LevelWarn, "converted", attrs...)
			return
		}
		logger.LogAttrs(context.Background(), slog.LevelInfo, "converted", attrs...)
	case StatusFailed:
		logger.LogAttrs(context.Background(), slog.LevelError, msgFailed,
			slog.String("file", fr.Path), slog.Any("err", fr.Err))
	case StatusInterrupted:
		logger.LogAttrs(context.Background(), slog.LevelWarn, "transcode interrupted",
			slog.String("file", fr.Path), slog.String("reason", fr.Reason))
	default:
		logger.LogAttrs(context.Background(), slog.LevelDebug, "skipped",
			slog.String("file", fr.Path), slog.String("reason", fr.Reason))
	}
}

// speed is media time per wall-clock time, the guide's "5x" figure.
func speed(media, took time.Duration) string {
	if took <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fx", media.Seconds()/took.Seconds())
}

func trackDetail(tracks []transcode.TrackResult) string {
	parts := make([]string, 0, len(tracks))
	for _, t := range tracks {
		s := t.Kind + " " + t.Codec
		if t.Width > 0 && t.Height > 0 {
			s += fmt.Sprintf(" %dx%d", t.Width, t.Height)
		}
		s += fmt.Sprintf(" %d frames %s", t.Samples, t.Duration.Round(time.Millisecond))
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
