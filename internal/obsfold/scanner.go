package obsfold

import "bytes"

type state uint8

const (
	sRequestStart state = iota // before a request line: stray CR/LF skipped
	sRequestLine
	sLineStart // at the start of a header (or trailer) line
	sName
	sValue
	sEndCR // a CR at the start of a line: the blank line ends the header
	sBody
	sChunkSize
	sChunkExt
	sChunkData
	sChunkDataEnd
	sStopped // a fold was seen, or the framing could not be followed
)

// Caps on what a header line contributes to the framing: longer names are
// not Content-Length or Transfer-Encoding, longer values are not numbers.
const (
	maxName  = 32
	maxValue = 128
)

// Scanner follows HTTP/1.x request framing over a byte stream, fed in any
// pieces, and records whether a header or trailer line was folded. Its
// zero value is ready at the start of a connection. It allocates nothing.
type Scanner struct {
	st       state
	trailers bool
	name     [maxName]byte
	nameLen  int
	nameLong bool
	value    [maxValue]byte
	valueLen int
	valLong  bool
	length   int64 // Content-Length of the current message, -1 if none
	haveLen  bool
	chunked  bool
	remain   int64 // body or chunk bytes left to skip
	size     int64 // chunk size being parsed
	digits   int
	folded   bool
	lost     bool
}

// Folded reports whether a folded header line was seen.
func (s *Scanner) Folded() bool { return s.folded }

// Lost reports whether the framing could not be followed (the request is
// malformed in a way the HTTP server refuses on its own); scanning stops.
func (s *Scanner) Lost() bool { return s.lost }

// Write scans p; it never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.st != sStopped {
		switch s.st {
		case sRequestStart:
			// net/http skips the CR/LF an old client sends after a POST
			// body; so does the scanner, or it would read the next
			// request line as a header line and lose the framing.
			if p[0] == '\r' || p[0] == '\n' {
				p = p[1:]
				continue
			}
			s.st = sRequestLine
			continue
		case sRequestLine:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return n, nil
			}
			p = p[i+1:]
			s.startHeader(false)
			continue
		case sBody, sChunkData:
			k := int64(len(p))
			if k > s.remain {
				k = s.remain
			}
			p = p[k:]
			s.remain -= k
			if s.remain == 0 {
				if s.st == sBody {
					s.st = sRequestStart
				} else {
					s.st = sChunkDataEnd
				}
			}
			continue
		case sChunkExt, sChunkDataEnd:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return n, nil
			}
			p = p[i+1:]
			if s.st == sChunkExt {
				s.chunkSizeDone()
			} else {
				s.st, s.size, s.digits = sChunkSize, 0, 0
			}
			continue
		}
		s.step(p[0])
		p = p[1:]
	}
	return n, nil
}

func (s *Scanner) startHeader(trailers bool) {
	s.st, s.trailers = sLineStart, trailers
	if !trailers {
		s.length, s.haveLen, s.chunked = 0, false, false
	}
}

// step handles one byte of a header line or a chunk-size line.
func (s *Scanner) step(c byte) {
	switch s.st {
	case sLineStart:
		switch c {
		case ' ', '\t':
			s.folded = true
			s.st = sStopped
		case '\r':
			s.st = sEndCR
		case '\n':
			s.headerDone()
		default:
			s.nameLen, s.nameLong, s.valueLen, s.valLong = 0, false, 0, false
			s.st = sName
			s.step(c)
		}
	case sEndCR:
		if c == '\n' {
			s.headerDone()
			return
		}
		s.stop() // a bare CR: net/http refuses the request
	case sName:
		switch {
		case c == ':':
			s.st = sValue
		case c == '\n':
			s.stop() // a line without a colon: refused by net/http
		case s.nameLen < maxName:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			s.name[s.nameLen] = c
			s.nameLen++
		default:
			s.nameLong = true
		}
	case sValue:
		switch {
		case c == '\n':
			s.field()
			s.st = sLineStart
		case s.valueLen < maxValue:
			s.value[s.valueLen] = c
			s.valueLen++
		default:
			s.valLong = true
		}
	case sChunkSize:
		switch {
		case c == '\n':
			s.chunkSizeDone()
		case c == '\r':
		case c == ';', c == ' ', c == '\t':
			s.st = sChunkExt
		default:
			v, ok := unhex(c)
			if !ok || s.digits >= 15 {
				s.stop()
				return
			}
			s.size = s.size<<4 | int64(v)
			s.digits++
		}
	}
}

func (s *Scanner) stop() { s.lost, s.st = true, sStopped }

// field notes the framing fields of a finished header line.
func (s *Scanner) field() {
	if s.trailers || s.nameLong {
		return
	}
	value := bytes.Trim(s.value[:s.valueLen], " \t\r")
	switch string(s.name[:s.nameLen]) { // compared only: no allocation
	case "content-length":
		if s.valLong || len(value) == 0 || len(value) > 18 {
			s.stop()
			return
		}
		var v int64
		for _, d := range value {
			if d < '0' || d > '9' {
				s.stop()
				return
			}
			v = v*10 + int64(d-'0')
		}
		if s.haveLen && v != s.length {
			s.stop() // conflicting lengths: net/http refuses them
			return
		}
		s.length, s.haveLen = v, true
	case "transfer-encoding":
		// net/http accepts only "chunked"; anything else it refuses.
		s.chunked = true
	}
}

// headerDone handles the blank line that ends a header or the trailers.
func (s *Scanner) headerDone() {
	switch {
	case s.trailers:
		s.st = sRequestStart
	case s.chunked:
		s.st, s.size, s.digits = sChunkSize, 0, 0
	case s.length > 0:
		s.st, s.remain = sBody, s.length
	default:
		s.st = sRequestStart
	}
}

func (s *Scanner) chunkSizeDone() {
	if s.digits == 0 {
		s.stop()
		return
	}
	if s.size == 0 {
		s.startHeader(true)
		return
	}
	s.st, s.remain = sChunkData, s.size
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
