package session

import (
	"fmt"
	"path/filepath"

	"github.com/ars-project/ars/internal/storage"
)

// recoverBuffers appends to their captures what crash buffers the previous
// run left (a kill -9 leaves the last up to 64 KiB of each capture there)
// and counts what it found.
func (m *Manager) recoverBuffers() error {
	if m.crashDir == "" {
		return nil
	}
	root, err := filepath.Abs(m.layout.Root)
	if err != nil {
		return fmt.Errorf("recording root: %w", err)
	}
	// Buffers name captures by absolute path.
	found, err := storage.RecoverBuffers(m.crashDir, storage.Layout{Root: root})
	if err != nil {
		return err
	}
	for _, rb := range found {
		switch {
		case rb.Err != nil:
			m.metrics.CaptureBuffersRecovered.WithLabelValues("failed").Inc()
			m.log.Warn("crash buffer not recovered", "buffer", rb.Buffer, "capture", rb.Capture, "appended_bytes", rb.Bytes, "err", rb.Err)
		case rb.Bytes > 0:
			m.metrics.CaptureBuffersRecovered.WithLabelValues("appended").Inc()
			m.log.Info("capture completed from its crash buffer", "capture", rb.Capture, "appended_bytes", rb.Bytes)
		default:
			m.metrics.CaptureBuffersRecovered.WithLabelValues("complete").Inc()
		}
		m.metrics.CaptureBufferBytes.Add(float64(rb.Bytes))
	}
	return nil
}
