package aacproc

// opusSamples is the duration of an Opus packet in 48 kHz samples, read
// from its TOC byte and frame count (RFC 6716 section 3.1), or 0 for a
// packet whose header is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := int(toc >> 3)
	var frame int // in units of 2.5 ms = 120 samples
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [...]int{4, 8, 16, 24}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [...]int{4, 8}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [...]int{1, 2, 4, 8}[cfg&3]
	}
	var n int
	switch toc & 3 {
	case 0:
		n = 1
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		n = int(p[1] & 0x3f)
	}
	s := n * frame * 120
	if s == 0 || s > 5760 { // 120 ms at most
		return 0
	}
	return s
}
