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
