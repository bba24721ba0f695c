package mixrun

import (
	"bytes"
	"log/slog"
	"sync"
)

// LogWriter turns an ars-mixer child's stderr into log records, line by
// line, bounded so that a chatty or hostile child cannot grow the daemon.
// Every supervisor of an ars-mixer role (the compositor here, the audio
// transcoder, the snapshotter) uses it as the child's cmd.Stderr.
type LogWriter struct {
	log *slog.Logger
	msg string
	mu  sync.Mutex
	buf []byte
}

// NewLogWriter logs each line of the child as msg with a "line" attribute.
func NewLogWriter(log *slog.Logger, msg string) *LogWriter {
	return &LogWriter{log: log, msg: msg}
}

const maxLine = 4096

// Write logs every complete line of b and keeps the rest for the next
// call.
func (w *LogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(w.buf)+len(b) <= maxLine {
				w.buf = append(w.buf, b...)
			}
			break
		}
		line := append(w.buf, b[:i]...)
		if len(line) > maxLine {
			line = line[:maxLine]
		}
		w.log.Info(w.msg, "line", string(line))
		w.buf = w.buf[:0]
		b = b[i+1:]
	}
	return n, nil
}
