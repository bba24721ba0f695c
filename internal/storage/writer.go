package storage

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FileMode is the mode of every file ars writes under the recording root.
const FileMode = 0o640

// DirMode is the mode of every directory ars creates under the recording root.
const DirMode = 0o750

const writeBufferSize = 64 << 10

// Writer appends records to a capture file. It holds an exclusive flock on
// the file from Create to Close so that other processes (the transcoder) can
// tell a live capture from a finished or orphaned one.
//
// Writer is safe for concurrent use: the packet path writes while a flusher
// flushes. Writes are buffered; Flush hands the buffer to the kernel. With
// WithCrashBuffer the buffer is in shared memory and survives a crash of
// the process (see crashBuffer); otherwise it is on the heap, and what a
// crash loses is what arrived since the last Flush.
type Writer struct {
	mu      sync.Mutex
	file    *os.File
	buf     *bufio.Writer // heap buffer, when cb is nil
	cb      *crashBuffer
	scratch [recordHeaderSize]byte
	trailer [recordTrailerSize]byte
	err     error // sticky: once a write fails, the capture stays failed
	closed  bool
	records uint64
	bytes   uint64
	dirty   bool
}

// CreateOption changes how Create buffers a capture.
type CreateOption func(*createConfig)

type createConfig struct{ crashDir string }

// WithCrashBuffer keeps the capture's write buffer in a file in dir, which
// should be on a tmpfs that outlives the process (RecoverBuffers reads it
// back after a crash). An empty dir keeps the buffer on the heap.
func WithCrashBuffer(dir string) CreateOption { return func(c *createConfig) { c.crashDir = dir } }

// Create makes a new capture file at path (failing if it exists), locks it
// and writes the header. If the crash buffer asked for cannot be made, the
// capture is not created: the caller decides whether to go on without.
func Create(path string, hdr Header, opts ...CreateOption) (*Writer, error) {
	var cfg createConfig
	for _, o := range opts {
		o(&cfg)
	}
	hdr.Version = FormatVersion
	if hdr.Streams == nil {
		hdr.Streams = []StreamInfo{}
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("encode capture header: %w", err)
	}
	if len(js) > maxHeaderJSON {
		return nil, fmt.Errorf("capture header of %d bytes: %w", len(js), ErrRecordTooLarge)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, FileMode)
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("lock capture %s: %w", path, err)
	}
	w := &Writer{file: f}
	if cfg.crashDir != "" {
		if w.cb, err = newCrashBuffer(cfg.crashDir, path); err != nil {
			_ = os.Remove(path)
			_ = f.Close()
			return nil, err
		}
	} else {
		w.buf = bufio.NewWriterSize(f, writeBufferSize)
	}
	head := make([]byte, 0, len(Magic)+8+len(js))
	head = append(head, Magic...)
	head = binary.BigEndian.AppendUint32(head, uint32(len(js)))
	head = append(head, js...)
	head = binary.BigEndian.AppendUint32(head, crc32.Checksum(js, castagnoli))
	// The header goes to disk at once so that even an empty capture is
	// self-describing after a crash.
	if w.cb != nil {
		_, err = f.Write(head)
		if err == nil {
			w.cb.wrote(len(head))
		}
	} else if _, err = w.buf.Write(head); err == nil {
		err = w.Flush()
	}
	if err != nil {
		// A file without its header (a full disk) is no capture: left
		// behind, every later pass would fail on it. Removed while still
		// locked so that no converter ever sees it.
		_ = os.Remove(path)
		_ = w.Close()
		return nil, fmt.Errorf("write capture header: %w", err)
	}
	return w, nil
}

// Write appends one record. It does not allocate.
func (w *Writer) Write(kind RecordKind, at time.Duration, payload []byte) error {
	if len(payload) > MaxRecordPayload {
		return ErrRecordTooLarge
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appendLocked(kind, at, payload)
}

// appendLocked frames one record into the buffer; w.mu is held.
func (w *Writer) appendLocked(kind RecordKind, at time.Duration, payload []byte) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	s := w.scratch[:]
	s[0] = byte(kind)
	s[1] = 0
	binary.BigEndian.PutUint16(s[2:4], uint16(len(payload)))
	binary.BigEndian.PutUint64(s[4:12], uint64(at))
	binary.BigEndian.PutUint32(w.trailer[:], crc32Record(s, payload))
	var err error
	if w.cb != nil {
		err = w.appendCrashBuffered(s, payload)
	} else {
		err = w.appendBuffered(s, payload)
	}
	if err != nil {
		return w.fail(err)
	}
	w.records++
	w.bytes += uint64(recordHeaderSize + len(payload) + recordTrailerSize)
	w.dirty = true
	return nil
}

// WriteSegments appends data as records of seg bytes each (the last may be
// shorter), all of one kind and arrival time, under one lock: the datagrams
// of a message the kernel merged (UDP GRO). Like Write, it allocates
// nothing.
func (w *Writer) WriteSegments(kind RecordKind, at time.Duration, data []byte, seg int) error {
	if seg <= 0 || seg > MaxRecordPayload {
		return ErrRecordTooLarge
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for off := 0; off < len(data); off += seg {
		if err := w.appendLocked(kind, at, data[off:min(off+seg, len(data))]); err != nil {
			return err
		}
	}
	return nil
}

// WriteStream declares a stream that appeared after the header was written.
func (w *Writer) WriteStream(at time.Duration, info StreamInfo) error {
	js, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode stream info: %w", err)
	}
	return w.Write(RecordStream, at, js)
}

// appendBuffered frames one record into the heap buffer.
func (w *Writer) appendBuffered(head, payload []byte) error {
	if _, err := w.buf.Write(head); err != nil {
		return err
	}
	if _, err := w.buf.Write(payload); err != nil {
		return err
	}
	_, err := w.buf.Write(w.trailer[:])
	return err
}

// appendCrashBuffered frames one record into the crash buffer, writing the
// buffer out first when the record does not fit, as bufio does.
func (w *Writer) appendCrashBuffered(head, payload []byte) error {
	size := len(head) + len(payload) + len(w.trailer)
	if size > w.cb.free() {
		if err := w.cb.flushTo(w.file); err != nil {
			return err
		}
	}
	if size > w.cb.free() {
		// Larger than the whole buffer (a 64 KiB record): straight to
		// the capture.
		for _, p := range [][]byte{head, payload, w.trailer[:]} {
			n, err := w.file.Write(p)
			w.cb.wrote(n)
			if err != nil {
				return err
			}
		}
		return nil
	}
	w.cb.append(head)
	w.cb.append(payload)
	w.cb.append(w.trailer[:])
	w.cb.commit()
	return nil
}

// CrashBuffered reports whether the capture's buffer survives a crash of
// the process.
func (w *Writer) CrashBuffered() bool { return w.cb != nil }

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("write capture: %w", err)
	return w.err
}

// Flush hands buffered records to the kernel.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if w.cb != nil {
		if err := w.cb.flushTo(w.file); err != nil {
			return w.fail(err)
		}
		w.dirty = false
		return nil
	}
	if !w.dirty && w.buf.Buffered() == 0 {
		return nil
	}
	if err := w.buf.Flush(); err != nil {
		return w.fail(err)
	}
	w.dirty = false
	return nil
}

// Err reports the sticky write error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stats returns how many records and bytes (framing included) were written.
func (w *Writer) Stats() (records, bytes uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records, w.bytes
}

// Close flushes, syncs, unlocks and closes the capture. It returns the
// first error the capture met, so a failed capture is reported once more.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushLocked()
	if serr := w.file.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync capture: %w", serr)
	}
	// The buffer goes before the lock: once the lock is free, a
	// buffer left behind would be taken for a crash's.
	if w.cb != nil {
		if berr := w.cb.close(); berr != nil && err == nil {
			err = berr
		}
		w.cb = nil
	}
	// Closing the descriptor releases the flock.
	if cerr := w.file.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close capture: %w", cerr)
	}
	w.closed = true
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// Name returns the path of the capture file.
func (w *Writer) Name() string { return w.file.Name() }
