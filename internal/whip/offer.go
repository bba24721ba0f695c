package whip

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/ars-project/ars/internal/vcodec"
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
	// Video and Audio are set when a section offers a recorded video
	// codec (recordedVideo) or Opus 48 kHz.
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
		case md.MediaName.Media == "video" && offersVideo(md):
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
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		p, rest, ok := strings.Cut(a.Value, " ")
		if ok && p == pt {
			return parseFmtp(rest)
		}
	}
	return map[string]string{}
}

// parseFmtp splits an fmtp line ("a=1;b=2") into its parameters, names
// in lower case.
func parseFmtp(line string) map[string]string {
	params := map[string]string{}
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			params[strings.ToLower(k)] = v
		}
	}
	return params
}

// offersVideo reports whether a media section offers a recorded video
// codec.
func offersVideo(md *sdp.MediaDescription) bool {
	for pt, enc := range rtpmaps(md) {
		if _, err := strconv.ParseUint(pt, 10, 7); err != nil {
			continue
		}
		name, rate, _ := strings.Cut(enc, "/")
		if rate != strconv.Itoa(vcodec.ClockRate) {
			continue
		}
		if recordedVideo(name, fmtpOf(md, pt)) != vcodec.Unknown {
			return true
		}
	}
	return false
}

// recordedVideo says which recorded codec a 90 kHz video payload format
// (its SDP name and fmtp parameters) is, or Unknown: H.264 in
// packetization mode 1 with a profile of h264Profiles (mode 0 and the
// High profiles are not what the converter and its players were built
// for), VP8, VP9 profile 0 or 2 (8 and 10 bit 4:2:0, what browsers
// encode; a missing profile-id means 0) and AV1 main profile (likewise).
// The offer check and the answer's codec choice both ask it, so that
// they agree.
func recordedVideo(name string, fmtp map[string]string) vcodec.Codec {
	c := vcodec.FromName(name)
	if !strings.EqualFold(name, c.Name()) {
		// An alias (AV1X) pion's MediaEngine would not match: answering
		// it is not possible, so it is not offered video either.
		return vcodec.Unknown
	}
	switch c {
	case vcodec.H264:
		if fmtp["packetization-mode"] != "1" || !supportedProfile(fmtp["profile-level-id"]) {
			return vcodec.Unknown
		}
	case vcodec.VP9:
		if p, ok := fmtp["profile-id"]; ok && p != "0" && p != "2" {
			return vcodec.Unknown
		}
	case vcodec.AV1:
		if p, ok := fmtp["profile"]; ok && p != "0" {
			return vcodec.Unknown
		}
	}
	return c
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
