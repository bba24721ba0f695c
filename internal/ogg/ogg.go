package ogg

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// oggHeader is the fixed part of an Ogg page (RFC 3533 section 6).
const oggHeader = 27

// Packets returns the packets of the first logical stream of an Ogg
// file, in order, joined across pages. The packets are copies.
func Packets(b []byte) ([][]byte, error) {
	var out [][]byte
	var partial []byte
	serial, have := uint32(0), false
	for off := 0; off < len(b); {
		if len(b)-off < oggHeader || !bytes.Equal(b[off:off+4], []byte("OggS")) {
			return nil, fmt.Errorf("%w: no page at %d", ErrBad, off)
		}
		h := b[off:]
		if h[4] != 0 {
			return nil, fmt.Errorf("%w: version %d", ErrBad, h[4])
		}
		s := binary.LittleEndian.Uint32(h[14:])
		nseg := int(h[26])
		if len(h) < oggHeader+nseg {
			return nil, fmt.Errorf("%w: cut segment table at %d", ErrBad, off)
		}
		lacing := h[oggHeader : oggHeader+nseg]
		body := 0
		for _, l := range lacing {
			body += int(l)
		}
		if len(h) < oggHeader+nseg+body {
			return nil, fmt.Errorf("%w: cut page at %d", ErrBad, off)
		}
		data := h[oggHeader+nseg : oggHeader+nseg+body]
		off += oggHeader + nseg + body
		if !have {
			serial, have = s, true
		}
		if s != serial {
			continue // another logical stream
		}
		p := 0
		for _, l := range lacing {
			partial = append(partial, data[p:p+int(l)]...)
			p += int(l)
			if l < 255 {
				out = append(out, partial)
				partial = nil
			}
		}
	}
	return out, nil
}
