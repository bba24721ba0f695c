package whip

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/vcodec"
)

// preferVideo makes each video section of the answer keep the one
// recorded codec ars prefers among those offered (vcodec.All: H.264
// first), whatever the offer's order. pion answers the matching codecs in
// the offer's order, and a browser sends the answer's first: Chromium
// offers VP8 first, so without this it would send VP8 to a server that
// prefers H.264. The other codecs are dropped, not just put behind:
// libwebrtc may switch to another negotiated codec mid-call (an encoder
// failure), and a capture declares one codec per stream.
//
// It runs between SetRemoteDescription and CreateAnswer. A section with
// no recorded codec is left as pion matched it (inspectOffer has already
// judged the offer as a whole).
func preferVideo(pc *webrtc.PeerConnection) error {
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeVideo || tr.Receiver() == nil {
			continue
		}
		keep := preferredVideoCodecs(tr.Receiver().GetParameters().Codecs)
		if len(keep) == 0 {
			continue
		}
		if err := tr.SetCodecPreferences(keep); err != nil {
			return fmt.Errorf("video codec preferences: %w", err)
		}
	}
	return nil
}

// preferredVideoCodecs returns the entries of codecs (a transceiver's, in
// the offer's order) of the most preferred recorded codec among them, in
// their order except that VP9 profile 0 goes before profile 2: most
// players take 8-bit VP9 only.
func preferredVideoCodecs(codecs []webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	of := func(c webrtc.RTPCodecParameters) vcodec.Codec {
		name, ok := cutPrefixFold(c.MimeType, "video/")
		if !ok || c.ClockRate != vcodec.ClockRate {
			return vcodec.Unknown
		}
		return recordedVideo(name, parseFmtp(c.SDPFmtpLine))
	}
	for _, want := range vcodec.All() {
		var keep []webrtc.RTPCodecParameters
		for _, c := range codecs {
			if of(c) == want {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			continue
		}
		if want == vcodec.VP9 {
			slices.SortStableFunc(keep, func(a, b webrtc.RTPCodecParameters) int {
				return strings.Compare(vp9Profile(a), vp9Profile(b))
			})
		}
		return keep
	}
	return nil
}

// vp9Profile is a VP9 entry's profile-id ("0" when absent).
func vp9Profile(c webrtc.RTPCodecParameters) string {
	if p, ok := parseFmtp(c.SDPFmtpLine)["profile-id"]; ok {
		return p
	}
	return "0"
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case (MIME types
// compare so).
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
