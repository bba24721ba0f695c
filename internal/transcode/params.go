package transcode

import (
	"encoding/base64"
	"strings"

	"github.com/Eyevinn/mp4ff/avc"
)

// spsSize reads the picture size from an SPS, or zeros if it does not
// parse. mp4ff's parser is not hardened against arbitrary bytes, and an
// SPS comes straight from the network, so a panic in it is contained here.
func spsSize(sps []byte) (w, h int) {
	defer func() {
		if recover() != nil {
			w, h = 0, 0
		}
	}()
	s, err := avc.ParseSPSNALUnit(sps, false)
	if err != nil {
		return 0, 0
	}
	return int(s.Width), int(s.Height)
}

// spsFrameRate returns the frame rate an SPS declares in its VUI timing
// info, as num/den frames per second, or 0/0 if it declares none. It is
// the rate ffmpeg's H.264 decoder reports (time_scale over twice
// num_units_in_tick, two fields to a frame), which ffmpeg prefers to the
// container's rate for output timing. The timing info comes before the
// parts of the VUI that fail to parse in practice (HRD parameters,
// bitstream restrictions), and ffmpeg keeps it when those are damaged,
// so it is used even if parsing ends in an error.
func spsFrameRate(sps []byte) (num, den uint64) {
	defer func() {
		if recover() != nil {
			num, den = 0, 0
		}
	}()
	s, _ := avc.ParseSPSNALUnit(sps, true)
	if s == nil || s.VUI == nil || !s.VUI.TimingInfoPresentFlag || s.VUI.NumUnitsInTick == 0 || s.VUI.TimeScale == 0 {
		return 0, 0
	}
	num, den = uint64(s.VUI.TimeScale), 2*uint64(s.VUI.NumUnitsInTick)
	d := gcd(num, den)
	return num / d, den / d
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// fmtpParameterSets extracts SPS and PPS from an H.264 fmtp line's
// sprop-parameter-sets (RFC 6184 section 8.1), for streams that only
// signal them out of band.
func fmtpParameterSets(fmtp string) (sps, pps []byte) {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || !strings.EqualFold(k, "sprop-parameter-sets") {
			continue
		}
		for _, b64 := range strings.Split(v, ",") {
			nal, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
			if err != nil || len(nal) == 0 {
				continue
			}
			switch nal[0] & 0x1f {
			case 7:
				if sps == nil {
					sps = nal
				}
			case 8:
				if pps == nil {
					pps = nal
				}
			}
		}
	}
	return sps, pps
}
