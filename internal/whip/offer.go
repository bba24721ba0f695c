package whip

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Bounds on an offer, checked before pion sees it: a browser's offer is a
// few kilobytes with two or three media sections.
const (
	maxOfferBytes   = 64 << 10
	maxMediaEntries = 16
)

// h264Profiles are the profile_idc/profile_iop pairs (the first two bytes
// of profile-level-id) that are answered: baseline, constrained baseline
// and main, as browsers offer them. pion matches H.264 codecs on exactly
// these two bytes, so the list doubles as the MediaEngine's.
var h264Profiles = [...]string{"42001f", "42c01f", "42e01f", "4d001f", "4d401f"}

// offerInfo says what an offer holds that can be recorded.
type offerInfo struct {
	// Video and Audio are set when a section offers H.264 (packetization
	// mode 1, a recorded profile) or Opus 48 kHz.
	Video, Audio bool
	// Other counts media sections with nothing recordable (they are
	// answered as rejected).
	Other int
}

// inspectOffer parses an SDP offer and reports which recordable codecs it
// offers. It is the first code to touch untrusted SDP.
func inspectOffer(b []byte) (offerInfo, error) {
	var info offerInfo
	if len(b) == 0 || len(b) > maxOfferBytes {
		return info, fmt.Errorf("%w: size %d bytes", ErrBadOffer, len(b))
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return info, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return info, fmt.Errorf("%w: no media sections", ErrBadOffer)
	}
	if len(sd.MediaDescriptions) > maxMediaEntries {
		return info, fmt.Errorf("%w: %d media sections (at most %d)", ErrBadOffer, len(sd.MediaDescriptions), maxMediaEntries)
	}
	for _, md := range sd.MediaDescriptions {
		switch {
		case md.MediaName.Media == "video" && offersH264(md):
			info.Video = true
		case md.MediaName.Media == "audio" && offersOpus(md):
			info.Audio = true
		default:
			info.Other++
		}
	}
	if !info.Video && !info.Audio {
		return info, ErrNoRecordableMedia
	}
	return info, nil
}

// rtpmaps maps each payload type of a media section to its "codec/rate[/ch]".
func rtpmaps(md *sdp.MediaDescription) map[string]string {
	out := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok {
			out[pt] = strings.TrimSpace(enc)
		}
	}
	return out
}

// fmtpOf returns the fmtp parameters of payload type pt.
func fmtpOf(md *sdp.MediaDescription, pt string) map[string]string {
	params := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		p, rest, ok := strings.Cut(a.Value, " ")
		if !ok || p != pt {
			continue
		}
		for _, kv := range strings.Split(rest, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			params[strings.ToLower(k)] = v
		}
	}
	return params
}

func offersH264(md *sdp.MediaDescription) bool {
	for pt, enc := range rtpmaps(md) {
		if !strings.EqualFold(enc, "H264/90000") {
			continue
		}
		if _, err := strconv.ParseUint(pt, 10, 7); err != nil {
			continue
		}
		f := fmtpOf(md, pt)
		if f["packetization-mode"] != "1" {
			continue
		}
		if supportedProfile(f["profile-level-id"]) {
			return true
		}
	}
	return false
}

// supportedProfile compares the profile (not the level) of a
// profile-level-id with the recorded ones.
func supportedProfile(plid string) bool {
	if len(plid) != 6 {
		return false
	}
	for _, p := range h264Profiles {
		if strings.EqualFold(plid[:4], p[:4]) {
			return true
		}
	}
	return false
}

func offersOpus(md *sdp.MediaDescription) bool {
	for pt, enc := range rtpmaps(md) {
		if _, err := strconv.ParseUint(pt, 10, 7); err != nil {
			continue
		}
		if strings.EqualFold(enc, "opus/48000/2") || strings.EqualFold(enc, "opus/48000") {
			return true
		}
	}
	return false
}
