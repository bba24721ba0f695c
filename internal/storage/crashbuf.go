package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A crash buffer is a capture's write buffer kept in a shared-memory file
// (a tmpfs such as /run or /dev/shm) instead of the daemon's heap. Records
// are copied into it exactly as into a heap buffer, and handed to the
// capture with one write(2) when it fills or at each Flush, as before; but
// the buffer outlives the process. After a kill -9 (an OOM kill, a
// watchdog abort) the next daemon appends what the buffer held to the
// capture (RecoverBuffers) before anything reads the capture, so a crash
// loses nothing the daemon had taken from the socket. A tmpfs is never
// written back to disk: the buffer costs no I/O, and its pages, touched
// once, are reused for the capture's whole life (bench/findings.md,
// "Crash buffers"). It is no protection against power loss: neither is
// the page cache.
//
// Layout (little endian, in the first page):
//
//	0   magic "ARSBUF\x00\x01"
//	8   flushed  u64  capture offset where data[0] belongs
//	16  (unused)
//	24  pathLen  u32  then the capture's absolute path
//	4096 data (crashBufferSize bytes)
//
// The data area holds whole records, exactly as they go to the capture,
// and a zero byte after the last (no record kind is 0). The pending length
// is not stored: recovery reads the records from data[0] up to the zero
// byte or the first torn one. So a record costs stores to the data page
// it lands in and no other; the header page changes only when the buffer
// is written out.
const (
	crashBufMagic   = "ARSBUF\x00\x01"
	crashBufHead    = 4096
	crashBufMaxPath = crashBufHead - 28
	// crashBufferSize is the data area: the same 64 KiB as a heap
	// buffer, so a capture makes the same write calls either way.
	crashBufferSize = writeBufferSize
	// CrashBufferExt ends the name of every crash buffer file.
	CrashBufferExt = ".buf"
)

// crashBuffer is one capture's buffer in a shared mapping.
type crashBuffer struct {
	path string // of the buffer file
	mem  []byte // the whole mapping
	data []byte // mem[crashBufHead:]
	n    int    // pending bytes
}

// newCrashBuffer makes a buffer file in dir for the capture at capture.
func newCrashBuffer(dir, capture string) (*crashBuffer, error) {
	abs, err := filepath.Abs(capture)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCrashBuffer, err)
	}
	if len(abs) > crashBufMaxPath {
		return nil, fmt.Errorf("%w: capture path of %d bytes is too long", ErrCrashBuffer, len(abs))
	}
	f, err := os.CreateTemp(dir, "capture-*"+CrashBufferExt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCrashBuffer, err)
	}
	// The mapping keeps the file's pages; the descriptor is not needed.
	defer f.Close()
	fail := func(err error) (*crashBuffer, error) {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("%w: %w", ErrCrashBuffer, err)
	}
	// Reserved, not just sized: a store into a page that a full tmpfs
	// cannot back would be a SIGBUS, where fallocate answers ENOSPC (and
	// the capture opens with a heap buffer instead).
	if err := unix.Fallocate(int(f.Fd()), 0, 0, crashBufHead+crashBufferSize); err != nil {
		return fail(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, crashBufHead+crashBufferSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	b := &crashBuffer{path: f.Name(), mem: mem, data: mem[crashBufHead:]}
	binary.LittleEndian.PutUint32(mem[24:28], uint32(len(abs)))
	copy(mem[28:], abs)
	// The magic last: a buffer whose header is incomplete is not one.
	copy(mem[:8], crashBufMagic)
	return b, nil
}

// word is the header's u64 at off (8-byte aligned in a page-aligned
// mapping), stored with one plain instruction that a kill cannot tear. No
// atomic (a locked instruction on amd64) is needed: nothing reads the
// buffer while this process lives, and a killed process's stores are all
// in memory up to the instruction it stopped at.
func (b *crashBuffer) word(off int) *uint64 { return (*uint64)(unsafe.Pointer(&b.mem[off])) }

// free is the room for records: one byte stays for the end mark.
func (b *crashBuffer) free() int { return len(b.data) - b.n - 1 }

// append copies p after the pending bytes; the caller made room.
func (b *crashBuffer) append(p []byte) { b.n += copy(b.data[b.n:], p) }

// commit ends the data after the record just appended. Until this store a
// kill leaves the record torn, and recovery stops before it.
func (b *crashBuffer) commit() { b.data[b.n] = 0 }

// flushTo writes the pending bytes to f. The data area is emptied before
// flushed moves on, so a kill between the two stores recovers nothing
// twice (a kill before both finds the bytes in the capture already).
func (b *crashBuffer) flushTo(f *os.File) error {
	if b.n == 0 {
		return nil
	}
	k, err := f.Write(b.data[:b.n])
	if k == b.n {
		b.n = 0
		b.data[0] = 0
		*b.word(8) += uint64(k)
	} else if k > 0 {
		// Only on a write error (a full disk), which fails the capture:
		// what did not go stays in the buffer, ahead of nothing.
		b.n = copy(b.data, b.data[k:b.n])
		*b.word(8) += uint64(k)
	}
	return err
}

// wrote accounts for n bytes written to the capture past the buffer.
func (b *crashBuffer) wrote(n int) {
	*b.word(8) += uint64(n)
}

// close unmaps the buffer and removes its file: the capture has it all
// (or has failed, and a failed capture keeps what it had).
func (b *crashBuffer) close() error {
	err := unix.Munmap(b.mem)
	b.mem, b.data = nil, nil
	if rerr := os.Remove(b.path); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCrashBuffer, err)
	}
	return nil
}

// RecoveredBuffer is what RecoverBuffers did with one buffer file.
type RecoveredBuffer struct {
	Buffer  string // the buffer file
	Capture string // the capture it belonged to ("" if unreadable)
	Bytes   int    // appended to the capture
	Err     error  // why nothing (or not all) was appended
}

// RecoverBuffers appends what the crash buffers in dir hold to their
// captures and removes the buffers. It runs when the daemon starts, before
// anything reads a capture left by the previous run; a buffer whose
// capture is gone (converted or removed meanwhile), is not a capture or is
// still locked by a live writer is reported and left alone or removed as
// said in its RecoveredBuffer. Only captures in a recording directory of
// the layout are written.
func RecoverBuffers(dir string, l Layout) ([]RecoveredBuffer, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"+CrashBufferExt))
	if err != nil {
		return nil, fmt.Errorf("crash buffers: %w", err)
	}
	var out []RecoveredBuffer
	for _, name := range names {
		rb := recoverBuffer(name, l)
		if rb.Err == nil || rb.Capture == "" || !errors.Is(rb.Err, ErrLocked) {
			// Recovered, or never recoverable: a locked capture is a
			// live writer's, whose buffer this is not to remove.
			if rerr := os.Remove(name); rerr != nil && rb.Err == nil {
				rb.Err = rerr
			}
		}
		out = append(out, rb)
	}
	return out, nil
}

func recoverBuffer(name string, l Layout) RecoveredBuffer {
	rb := RecoveredBuffer{Buffer: name}
	raw, err := os.ReadFile(name)
	if err != nil {
		rb.Err = err
		return rb
	}
	if len(raw) != crashBufHead+crashBufferSize || string(raw[:8]) != crashBufMagic {
		rb.Err = ErrNotCrashBuffer
		return rb
	}
	flushed := binary.LittleEndian.Uint64(raw[8:16])
	pending := uint64(intactRecords(raw[crashBufHead:]))
	plen := binary.LittleEndian.Uint32(raw[24:28])
	if plen == 0 || plen > crashBufMaxPath || flushed > 1<<50 {
		rb.Err = fmt.Errorf("header: %w", ErrNotCrashBuffer)
		return rb
	}
	capture := string(raw[28 : 28+plen])
	if strings.IndexByte(capture, 0) >= 0 || !filepath.IsAbs(capture) || filepath.Clean(capture) != capture || !l.Contains(filepath.Dir(capture)) {
		rb.Err = fmt.Errorf("%w: %q", ErrBufferOutsideRoot, capture)
		return rb
	}
	rb.Capture = capture
	f, err := os.OpenFile(capture, os.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		rb.Err = err
		return rb
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		rb.Err = ErrLocked
		return rb
	}
	fi, err := f.Stat()
	if err != nil {
		rb.Err = err
		return rb
	}
	size := uint64(fi.Size())
	if size < flushed {
		rb.Err = fmt.Errorf("capture is %d bytes, shorter than the %d its buffer had written", size, flushed)
		return rb
	}
	if size >= flushed+pending {
		return rb // the last write reached the capture before the crash
	}
	tail := raw[crashBufHead+int(size-flushed) : crashBufHead+int(pending)]
	n, err := f.WriteAt(tail, int64(size))
	rb.Bytes = n
	if err == nil {
		err = f.Sync()
	}
	rb.Err = err
	return rb
}
