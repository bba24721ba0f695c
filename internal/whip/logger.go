package whip

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's logging into slog. pion's debug and trace output
// is a firehose of per-packet detail and is dropped; its info becomes debug.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(string)          {}
func (l pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(msg string)       { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Infof(format string, a ...any) {
	l.emit(slog.LevelDebug, fmt.Sprintf(format, a...))
}
func (l pionLogger) Warn(msg string)               { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, a ...any) { l.emit(slog.LevelWarn, fmt.Sprintf(format, a...)) }
func (l pionLogger) Error(msg string)              { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, a ...any) {
	l.emit(slog.LevelError, fmt.Sprintf(format, a...))
}
