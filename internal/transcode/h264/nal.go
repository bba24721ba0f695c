package h264

// NAL unit types (ITU-T H.264 table 7-1, RFC 6184 section 5.4).
const (
	NALSlice    = 1
	NALIDR      = 5
	NALSEI      = 6
	NALSPS      = 7
	NALPPS      = 8
	NALAUD      = 9
	NALFiller   = 12
	NALSTAPA    = 24
	NALFUA      = 28
	nalTypeMask = 0x1f
)

// Type returns the type of a NAL unit, or 0 for an empty one.
func Type(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0] & nalTypeMask)
}

// IsVCL reports whether a NAL unit type carries coded slice data.
func IsVCL(typ int) bool { return typ >= 1 && typ <= 5 }

// FirstMBInSlice reads first_mb_in_slice from a slice NAL unit: 0 means
// the slice starts its picture. ok is false if the NAL is not a slice or
// too short to tell.
func FirstMBInSlice(nal []byte) (mb uint32, ok bool) {
	if !IsVCL(Type(nal)) || len(nal) < 2 {
		return 0, false
	}
	// first_mb_in_slice is the first ue(v) after the one-byte header. An
	// emulation prevention byte cannot occur within the first bytes of a
	// slice header before 22 zero bits, and ue(v) of a sane macroblock
	// count is short, so reading raw bits is exact here.
	var zeros uint
	pos := uint(8)
	bit := func() (uint32, bool) {
		if int(pos/8) >= len(nal) {
			return 0, false
		}
		b := uint32(nal[pos/8]>>(7-pos%8)) & 1
		pos++
		return b, true
	}
	for {
		b, more := bit()
		if !more || zeros > 24 {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
	}
	var v uint32
	for i := uint(0); i < zeros; i++ {
		b, more := bit()
		if !more {
			return 0, false
		}
		v = v<<1 | b
	}
	return (1<<zeros - 1) + v, true
}
