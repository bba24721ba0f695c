package opus

// Rate is the Opus clock: every packet is timed in 48 kHz samples.
const Rate = 48000

// SilenceSamples is how long Silence plays: 20 ms.
const SilenceSamples = 960

// silence is a 20 ms Opus packet that decodes to silence (CELT, fullband,
// code 0), the frame Janus inserts for gaps; mono and stereo TOC.
var (
	silenceMono   = []byte{0xf8, 0xff, 0xfe}
	silenceStereo = []byte{0xfc, 0xff, 0xfe}
)

// Silence returns the 20 ms silence packet for 1 or 2 channels. The slice
// is shared: do not modify it.
func Silence(channels int) []byte {
	if channels == 1 {
		return silenceMono
	}
	return silenceStereo
}

// PacketSamples returns how many 48 kHz samples an Opus packet decodes to
// (RFC 6716 section 3.1), or 0 if the packet is malformed.
func PacketSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := int(toc >> 3)
	var frame int // in 1/400 s (2.5 ms) units
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{4, 8, 16, 24}[config&3]
	case config < 16: // Hybrid: 10, 20 ms
		frame = [2]int{4, 8}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int{1, 2, 4, 8}[config&3]
	}
	var count int
	switch toc & 3 {
	case 0:
		count = 1
	case 1, 2:
		count = 2
	default:
		if len(p) < 2 {
			return 0
		}
		count = int(p[1] & 0x3f)
	}
	// At most 120 ms per packet.
	if count == 0 || frame*count > 48 {
		return 0
	}
	return frame * count * Rate / 400
}
