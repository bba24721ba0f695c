package aacenc

import (
	"bytes"
	"log/slog"
	"sync"
)

// logWriter turns the transcoder's stderr into log records, line by line,
// bounded so that a chatty or hostile child cannot grow the daemon.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

const maxLine = 4096

func (w *logWriter) Write(b []byte) (int, error) {
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
		w.log.Info("transcoder", "line", string(line))
		w.buf = w.buf[:0]
		b = b[i+1:]
	}
	return n, nil
}
