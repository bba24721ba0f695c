package rdk

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
)

// packer appends Agora's little-endian packed types (the "Packer" of the
// upstream generators).
type packer struct{ b []byte }

func (p *packer) u16(v uint16) { p.b = binary.LittleEndian.AppendUint16(p.b, v) }
func (p *packer) u32(v uint32) { p.b = binary.LittleEndian.AppendUint32(p.b, v) }

func (p *packer) str(s []byte) error {
	if len(s) > math.MaxUint16 {
		return fmt.Errorf("%w: field of %d bytes exceeds 65535", ErrInvalidParams, len(s))
	}
	p.u16(uint16(len(s)))
	p.b = append(p.b, s...)
	return nil
}

// privileges packs a u16-keyed u32 map sorted by key, as every upstream
// implementation does; the order is part of the signed bytes.
func (p *packer) privileges(m map[uint16]uint32) {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	p.u16(uint16(len(keys)))
	for _, k := range keys {
		p.u16(uint16(k))
		p.u32(m[uint16(k)])
	}
}

// unpacker reads packed fields; the first short read sets err and every
// later read returns zero values, so callers check err once.
type unpacker struct {
	b   []byte
	off int
	err error
}

func (u *unpacker) take(n int) []byte {
	if u.err != nil {
		return nil
	}
	if n > len(u.b)-u.off {
		u.err = fmt.Errorf("%w: truncated at byte %d", ErrMalformed, u.off)
		return nil
	}
	s := u.b[u.off : u.off+n]
	u.off += n
	return s
}

func (u *unpacker) u16() uint16 {
	if s := u.take(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (u *unpacker) u32() uint32 {
	if s := u.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (u *unpacker) str() []byte {
	n := int(u.u16())
	return u.take(n)
}

func (u *unpacker) privileges() map[uint16]uint32 {
	n := int(u.u16())
	if u.err != nil {
		return nil
	}
	m := make(map[uint16]uint32, min(n, 16))
	for range n {
		k := u.u16()
		v := u.u32()
		if u.err != nil {
			return nil
		}
		m[k] = v
	}
	return m
}

// isHex32 is upstream's isUuid: app IDs and certificates are 32 hex digits.
func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func checkCredentials(appID, appCert string) error {
	if !isHex32(appID) || !isHex32(appCert) {
		return ErrInvalidCredentials
	}
	return nil
}
