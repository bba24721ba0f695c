package whip

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzInspectOffer feeds arbitrary bytes to the first parser of an
// untrusted offer. It must never panic, and what it accepts must offer
// something recordable.
func FuzzInspectOffer(f *testing.F) {
	f.Add([]byte(chromeOffer))
	f.Add([]byte(strings.ReplaceAll(chromeOffer, "H264", "VP8")))
	f.Add([]byte("v=0\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := inspectOffer(b)
		if err == nil && !info.Video && !info.Audio {
			t.Fatalf("accepted an offer with nothing recordable: %+v", info)
		}
		if err != nil && !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrNoRecordableMedia) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// FuzzOffer posts arbitrary offers, with a valid key, through the whole
// handler and pion: every answer is 201 (then deleted) or a JSON 4xx,
// never a 5xx or a panic.
func FuzzOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add(strings.ReplaceAll(chromeOffer, "a=ice-ufrag:", "a=x-ufrag:"))
	f.Add(strings.ReplaceAll(chromeOffer, "a=fingerprint:", "a=x-fingerprint:"))
	f.Add(strings.ReplaceAll(chromeOffer, "a=setup:actpass", "a=setup:bogus"))
	f.Add("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n")
	// Every offer comes from 127.0.0.1 and a deleted session gives its
	// pending place back only once it is freed: without room the fuzzer
	// would mostly see 429s and never reach pion.
	fx := newFixture(f, freePort(f), WithPendingLimits(1<<20, 1<<20))
	key := mediaKey(f, "fuzz", 1)
	f.Fuzz(func(t *testing.T, offer string) {
		fx := *fx
		fx.t = t
		status, loc, body := fx.post("channel=fuzz&uid=1", key, "application/sdp", offer)
		switch {
		case status == http.StatusCreated:
			if !strings.HasPrefix(loc, ResourcePrefix) || !strings.HasPrefix(body, "v=0") {
				t.Fatalf("201 without a resource or answer: %q %q", loc, body)
			}
			if code := fx.do("DELETE", loc); code != http.StatusOK {
				t.Fatalf("DELETE: %d", code)
			}
		case status >= 400 && status < 500:
			var e errorAnswer
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%d with body %q", status, body)
			}
		default:
			t.Fatalf("status %d: %s", status, body)
		}
	})
}

// chromeOffer is an offer as Chromium makes it for one camera and one
// microphone (trimmed to the codecs that matter here).
const chromeOffer = "v=0\r\n" +
	"o=- 4215775241003290123 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n" +
	"a=ice-ufrag:8hhY\r\n" +
	"a=ice-pwd:asd88fgpdd777uzjYhagZg4R\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
	"a=sendonly\r\n" +
	"a=msid:- a1b2c3\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtcp-fb:111 transport-cc\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\n" +
	"a=fmtp:63 111/111\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:13 CN/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\n" +
	"a=rtpmap:126 telephone-event/8000\r\n" +
	"a=ssrc:1001 cname:x\r\n" +
	"a=ssrc:1001 msid:- a1b2c3\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 98 99\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:8hhY\r\n" +
	"a=ice-pwd:asd88fgpdd777uzjYhagZg4R\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:1\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=sendonly\r\n" +
	"a=msid:- d4e5f6\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtcp-rsize\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtcp-fb:96 goog-remb\r\n" +
	"a=rtcp-fb:96 transport-cc\r\n" +
	"a=rtcp-fb:96 ccm fir\r\n" +
	"a=rtcp-fb:96 nack\r\n" +
	"a=rtcp-fb:96 nack pli\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=rtcp-fb:102 transport-cc\r\n" +
	"a=rtcp-fb:102 ccm fir\r\n" +
	"a=rtcp-fb:102 nack\r\n" +
	"a=rtcp-fb:102 nack pli\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 rtx/90000\r\n" +
	"a=fmtp:103 apt=102\r\n" +
	"a=rtpmap:106 H264/90000\r\n" +
	"a=rtcp-fb:106 nack\r\n" +
	"a=rtcp-fb:106 nack pli\r\n" +
	"a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:107 rtx/90000\r\n" +
	"a=fmtp:107 apt=106\r\n" +
	"a=rtpmap:98 H264/90000\r\n" +
	"a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f\r\n" +
	"a=rtpmap:99 rtx/90000\r\n" +
	"a=fmtp:99 apt=98\r\n" +
	"a=ssrc-group:FID 2001 2002\r\n" +
	"a=ssrc:2001 cname:x\r\n" +
	"a=ssrc:2002 cname:x\r\n"
