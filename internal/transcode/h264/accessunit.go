package h264

import "encoding/binary"

// AccessUnit is one picture being rebuilt from its NAL units: the units a
// decoder needs, in AVCC form (4-byte length prefixes), and what a
// recorder must know to judge the picture. The MP4 converter and the live
// HLS writer share it.
type AccessUnit struct {
	Buf      []byte
	Keyframe bool // holds an IDR slice
	HasSlice bool
	HasSPS   bool
	HasPPS   bool
	// Damaged says slices before the first one seen were lost.
	Damaged bool
}

// Reset empties the unit, keeping its buffer.
func (a *AccessUnit) Reset() { *a = AccessUnit{Buf: a.Buf[:0]} }

// Add appends one NAL unit and returns its type, so that the caller can
// keep the stream's parameter sets. Access unit delimiters, filler data
// and extension units are left out: decoders do not need them and some
// players choke on them.
func (a *AccessUnit) Add(n []byte) int {
	typ := Type(n)
	switch {
	case typ == NALSPS:
		a.HasSPS = true
	case typ == NALPPS:
		a.HasPPS = true
	case IsVCL(typ):
		if !a.HasSlice {
			a.HasSlice = true
			// The first slice of a picture starts at macroblock 0; if it
			// does not, the slices before it were lost.
			if mb, ok := FirstMBInSlice(n); !ok || mb != 0 {
				a.Damaged = true
			}
		}
		if typ == NALIDR {
			a.Keyframe = true
		}
	case typ == NALSEI:
	default:
		return typ
	}
	a.Buf = binary.BigEndian.AppendUint32(a.Buf, uint32(len(n)))
	a.Buf = append(a.Buf, n...)
	return typ
}
