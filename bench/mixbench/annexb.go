package mixbench

// nalType is the type of a NAL unit starting at its header byte.
func nalType(nal []byte) byte { return nal[0] & 0x1f }

// H.264 NAL unit types this splitter cares about.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
)

// AccessUnit is one coded picture in Annex B form (start codes kept).
type AccessUnit struct {
	Data []byte
	Key  bool // holds an IDR slice
}

// SplitAnnexB cuts an H.264 Annex B elementary stream into access units
// (ITU-T H.264 7.4.1.2.3): a unit ends before an AUD, SEI, SPS or PPS
// that follows a slice, and before a slice whose first_mb_in_slice is 0
// when a slice came already. The units alias b.
func SplitAnnexB(b []byte) []AccessUnit {
	var out []AccessUnit
	start := -1 // start of the current unit (its first start code)
	vcl, key := false, false
	for _, n := range nalUnits(b) {
		if n.payload == len(b) {
			continue // a start code at the very end: no header byte
		}
		t := nalType(b[n.payload:])
		first := t == nalSlice || t == nalIDR
		boundary := vcl && ((t >= nalSEI && t <= nalAUD) ||
			(first && n.payload+1 < len(b) && b[n.payload+1]&0x80 != 0))
		if boundary {
			out = append(out, AccessUnit{Data: b[start:n.code], Key: key})
			start, vcl, key = -1, false, false
		}
		if start < 0 {
			start = n.code
		}
		if first {
			vcl = true
			key = key || t == nalIDR
		}
	}
	if start >= 0 && vcl {
		out = append(out, AccessUnit{Data: b[start:], Key: key})
	}
	return out
}

type nalPos struct{ code, payload int } // offset of the start code, of the header

// nalUnits finds every start code (00 00 01 or 00 00 00 01).
func nalUnits(b []byte) []nalPos {
	var out []nalPos
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 {
			i++
			continue
		}
		if b[i+2] == 1 {
			code := i
			if i > 0 && b[i-1] == 0 {
				code = i - 1
			}
			out = append(out, nalPos{code: code, payload: i + 3})
			i += 3
			continue
		}
		i++
	}
	return out
}
