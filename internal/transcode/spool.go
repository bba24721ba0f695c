package transcode

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// spool holds the sample data of all tracks while the capture is read,
// in the order it will have in the mdat box: the moov box comes first in
// a fast-start file and can only be written once every sample is known,
// so the data waits in a temp file instead of memory.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	off int64
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, ".ars-mdat-*")
	if err != nil {
		return nil, fmt.Errorf("create sample spool: %w", err)
	}
	// The name is not needed once open; unlinking now means a crash cannot
	// leave the spool behind.
	_ = os.Remove(f.Name())
	return &spool{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (s *spool) write(b []byte) (int64, error) {
	off := s.off
	n, err := s.w.Write(b)
	s.off += int64(n)
	if err != nil {
		return off, fmt.Errorf("write sample spool: %w", err)
	}
	return off, nil
}

// copyTo writes the whole spool to w.
func (s *spool) copyTo(w io.Writer) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush sample spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind sample spool: %w", err)
	}
	n, err := io.Copy(w, s.f)
	if err != nil {
		return fmt.Errorf("copy samples: %w", err)
	}
	if n != s.off {
		return fmt.Errorf("copy samples: spool has %d bytes, expected %d", n, s.off)
	}
	return nil
}

func (s *spool) close() { _ = s.f.Close() }

// readAt reads len(b) bytes of sample data at spool offset off.
func (s *spool) readAt(b []byte, off int64) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush sample spool: %w", err)
	}
	if _, err := s.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("read sample spool: %w", err)
	}
	return nil
}
