package storage

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// Reader reads a capture file record by record. A torn or damaged record
// ends the readable part: Next returns an error wrapping ErrTornRecord and
// everything returned before it is intact.
type Reader struct {
	r      *bufio.Reader
	closer io.Closer
	hdr    Header
	offset int64 // of the next record
	buf    []byte
	head   [recordHeaderSize]byte
	err    error
}

// Open opens a capture file and reads its header.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads a capture from r, starting with its header.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var pre [len(Magic) + 4]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrNotCapture
		}
		return nil, fmt.Errorf("read capture: %w", err)
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, ErrNotCapture
	}
	n := binary.BigEndian.Uint32(pre[len(Magic):])
	if n == 0 || n > maxHeaderJSON {
		return nil, fmt.Errorf("header length %d: %w", n, ErrBadHeader)
	}
	js := make([]byte, int(n)+4)
	if _, err := io.ReadFull(br, js); err != nil {
		return nil, fmt.Errorf("header: %w", ErrBadHeader)
	}
	body, sum := js[:n], binary.BigEndian.Uint32(js[n:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("header checksum: %w", ErrBadHeader)
	}
	rd := &Reader{r: br, offset: int64(len(pre)) + int64(len(js)), buf: make([]byte, 0, 2048)}
	if err := json.Unmarshal(body, &rd.hdr); err != nil {
		return nil, fmt.Errorf("header json: %w: %w", ErrBadHeader, err)
	}
	if rd.hdr.Version != FormatVersion {
		return nil, fmt.Errorf("header version %d: %w", rd.hdr.Version, ErrBadHeader)
	}
	return rd, nil
}

// Header returns the capture's header.
func (r *Reader) Header() Header { return r.hdr }

// Offset returns the file offset of the next record: after a torn record,
// the length of the intact part.
func (r *Reader) Offset() int64 { return r.offset }

// Next returns the next record. It returns io.EOF at a clean end and an
// error wrapping ErrTornRecord where the capture is cut or damaged.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if _, err := io.ReadFull(r.r, r.head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, r.stop(io.EOF)
		}
		return Record{}, r.stop(fmt.Errorf("record at offset %d: cut header: %w", r.offset, ErrTornRecord))
	}
	kind, length, at, ok := parseRecordHead(r.head[:])
	if !ok {
		return Record{}, r.stop(fmt.Errorf("record at offset %d: bad framing: %w", r.offset, ErrTornRecord))
	}
	need := length + recordTrailerSize
	if cap(r.buf) < need {
		r.buf = make([]byte, need)
	}
	r.buf = r.buf[:need]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return Record{}, r.stop(fmt.Errorf("record at offset %d: cut payload: %w", r.offset, ErrTornRecord))
	}
	if !recordSumOK(r.head[:], r.buf[:length], r.buf[length:]) {
		return Record{}, r.stop(fmt.Errorf("record at offset %d: checksum: %w", r.offset, ErrTornRecord))
	}
	r.offset += int64(recordHeaderSize + need)
	return Record{Kind: kind, At: at, Data: r.buf[:length]}, nil
}

// parseRecordHead checks a record's 12-byte header: the one definition of
// a well-framed record, for the Reader and for crash-buffer recovery.
func parseRecordHead(h []byte) (kind RecordKind, length int, at time.Duration, ok bool) {
	kind = RecordKind(h[0])
	length = int(binary.BigEndian.Uint16(h[2:4]))
	ns := int64(binary.BigEndian.Uint64(h[4:12]))
	ok = kind >= RecordRTP && kind <= RecordStream && h[1] == 0 && ns >= 0
	return kind, length, time.Duration(ns), ok
}

// recordSumOK checks a record's CRC-32C trailer.
func recordSumOK(head, payload, trailer []byte) bool {
	return crc32Record(head, payload) == binary.BigEndian.Uint32(trailer)
}

// intactRecords is the length of the whole, well-framed records at the
// start of b.
func intactRecords(b []byte) int {
	off := 0
	for len(b)-off >= recordHeaderSize+recordTrailerSize {
		head := b[off : off+recordHeaderSize]
		_, length, _, ok := parseRecordHead(head)
		end := off + recordHeaderSize + length + recordTrailerSize
		if !ok || end > len(b) {
			break
		}
		if !recordSumOK(head, b[off+recordHeaderSize:end-recordTrailerSize], b[end-recordTrailerSize:end]) {
			break
		}
		off = end
	}
	return off
}

func (r *Reader) stop(err error) error {
	r.err = err
	return err
}

// Close closes the underlying file when the reader opened it.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// DecodeStream parses the payload of a RecordStream record.
func DecodeStream(data []byte) (StreamInfo, error) {
	var info StreamInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return StreamInfo{}, fmt.Errorf("stream record: %w", err)
	}
	return info, nil
}
