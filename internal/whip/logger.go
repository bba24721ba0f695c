package whip

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// pionLogs routes pion's logging into slog. pion's debug and trace output
// is a firehose of per-packet detail and is dropped; its info becomes debug.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

// unspecifiedMuxAdvice is the start of what pion's UDP mux warns when
// its socket has no address: that it will announce every interface's
// address and so should be one socket per address. hostsMux announces
// the configured hosts instead (GetListenAddresses), which is why the
// socket may listen on all addresses: the advice does not apply to it.
const unspecifiedMuxAdvice = "UDPMuxDefault should not listening on unspecified address"

// muxLogger is the logger of the shared UDP mux: pion's advice above is
// logged at debug, everything else as by any pion logger.
func (f pionLogs) muxLogger() logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", "udpmux"), demote: unspecifiedMuxAdvice}
}

type pionLogger struct {
	log *slog.Logger
	// demote, when set, turns warnings that start with it into debug.
	demote string
}

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
func (l pionLogger) Warn(msg string) { l.warn(msg) }
func (l pionLogger) Warnf(format string, a ...any) {
	l.warn(fmt.Sprintf(format, a...))
}

func (l pionLogger) warn(msg string) {
	if l.demote != "" && strings.HasPrefix(msg, l.demote) {
		l.emit(slog.LevelDebug, msg)
		return
	}
	l.emit(slog.LevelWarn, msg)
}
func (l pionLogger) Error(msg string) { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, a ...any) {
	l.emit(slog.LevelError, fmt.Sprintf(format, a...))
}
