package whip

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/vcodec"
)

// Payload types offered for our own codecs. Answers carry the remote
// offer's payload types; these only matter to pion's bookkeeping.
const (
	vp8PT       = 96
	vp9PT       = 98 // profile 0; profile 2 is vp9PT+1
	av1PT       = 97
	firstH264PT = 102
	opusPT      = 111
)

// newMediaEngine registers the recorded video codecs (recordedVideo: H.264
// in packetization mode 1 with the profiles of h264Profiles, VP8, VP9
// profiles 0 and 2, AV1 main profile), Opus and the camera-orientation
// header extension, nothing else, so answers refuse other codecs. Which
// video codec an answer keeps is preferVideo's choice, not the order here.
// Every video codec asks for the same feedback: FIR here, NACK, PLI and
// transport-cc added to all of them by newAPI's interceptors.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	fir := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}}
	var video []webrtc.RTPCodecParameters
	for i, plid := range h264Profiles {
		video = append(video, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType:     webrtc.MimeTypeH264,
				ClockRate:    vcodec.ClockRate,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
				RTCPFeedback: fir,
			},
			PayloadType: webrtc.PayloadType(firstH264PT + i),
		})
	}
	for _, c := range []struct {
		codec vcodec.Codec
		fmtp  string
		pt    webrtc.PayloadType
	}{
		{vcodec.VP8, "", vp8PT},
		{vcodec.VP9, "profile-id=0", vp9PT},
		{vcodec.VP9, "profile-id=2", vp9PT + 1},
		// No fmtp: AV1's payload format takes a missing profile as 0, and
		// pion matches AV1 on the profile alone.
		{vcodec.AV1, "", av1PT},
	} {
		video = append(video, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: c.codec.MimeType(), ClockRate: vcodec.ClockRate,
				SDPFmtpLine: c.fmtp, RTCPFeedback: fir,
			},
			PayloadType: c.pt,
		})
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s %s: %w", c.MimeType, c.SDPFmtpLine, err)
		}
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: opusPT,
	}
	if err := me.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	// The camera's orientation (phones turn, browsers report it in this
	// extension rather than rotating the picture): negotiated so that the
	// packets carry it and the converter can show the recording upright.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: vcodec.CVOURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register %s: %w", vcodec.CVOURI, err)
	}
	return me, nil
}

// newAPI builds the pion API every session shares: the codecs above, the
// receive-side interceptors (NACK generator, receiver reports, transport-cc
// feedback so browsers can estimate bandwidth) and the shared ICE muxes.
func (g *Ingest) newAPI(logs pionLogs) (*webrtc.API, error) {
	me, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, reg); err != nil {
		return nil, fmt.Errorf("nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(me, reg); err != nil {
		return nil, fmt.Errorf("transport-cc: %w", err)
	}

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(g.udpMux)
	if g.tcpMux != nil {
		se.SetICETCPMux(g.tcpMux)
	}
	se.SetNetworkTypes(networkTypes(g.bind, g.tcpMux != nil))
	// A server answers; it has no use for mDNS, which would also open
	// multicast sockets per session.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The UDP candidates are exactly the announced hosts (hostsMux). The
	// ICE-TCP ones are gathered from local addresses: only those that are
	// announced (or anchor an announced alias) pass, loopback included
	// when it is announced.
	se.SetIncludeLoopbackCandidate(true)
	ann := g.announce
	se.SetIPFilter(func(a net.IP) bool {
		ip, ok := netip.AddrFromSlice(a)
		return ok && ann.tcpAllows(ip.Unmap())
	})
	if len(g.announce.tcpRules) > 0 {
		rules := make([]webrtc.ICEAddressRewriteRule, 0, len(g.announce.tcpRules))
		for _, r := range g.announce.tcpRules {
			ext := make([]string, len(r.external))
			for i, e := range r.external {
				ext[i] = e.String()
			}
			mode := webrtc.ICEAddressRewriteReplace
			if r.keep {
				mode = webrtc.ICEAddressRewriteAppend
			}
			rules = append(rules, webrtc.ICEAddressRewriteRule{
				External: ext, Local: r.local.String(),
				AsCandidateType: webrtc.ICECandidateTypeHost, Mode: mode,
			})
		}
		if err := se.SetICEAddressRewriteRules(rules...); err != nil {
			return nil, fmt.Errorf("ARS_WEBRTC_HOSTS: %w", err)
		}
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(se),
	), nil
}

// networkTypes limits ICE to the address family of the bind address.
func networkTypes(bind string, withTCP bool) []webrtc.NetworkType {
	ip := net.ParseIP(bind)
	v4 := ip == nil || ip.IsUnspecified() || ip.To4() != nil
	v6 := ip == nil || ip.IsUnspecified() || ip.To4() == nil
	if bind == "localhost" {
		v4, v6 = true, false
	}
	var out []webrtc.NetworkType
	if v4 {
		out = append(out, webrtc.NetworkTypeUDP4)
		if withTCP {
			out = append(out, webrtc.NetworkTypeTCP4)
		}
	}
	if v6 {
		out = append(out, webrtc.NetworkTypeUDP6)
		if withTCP {
			out = append(out, webrtc.NetworkTypeTCP6)
		}
	}
	return out
}
