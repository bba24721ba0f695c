package transcode

import "time"

// The RTP and RTCP parsing below is the converter's; it is exported for
// the composite feeder (internal/mixfeed), so that one parser reads both
// finished captures and live packets.

// RTPHeader is a parsed RTP packet. Payload aliases the parsed buffer.
type RTPHeader struct {
	Marker  bool
	PT      uint8
	Seq     uint16
	TS      uint32
	SSRC    uint32
	Payload []byte
}

// ParseRTP parses an RTP packet without copying (see parseRTP).
func ParseRTP(b []byte, h *RTPHeader) error {
	var p rtpPacket
	if err := parseRTP(b, &p); err != nil {
		return err
	}
	*h = RTPHeader{Marker: p.marker, PT: p.pt, Seq: p.seq, TS: p.ts, SSRC: p.ssrc, Payload: p.payload}
	return nil
}

// IsRTCP tells a muxed RTCP packet from RTP (RFC 5761 section 4).
func IsRTCP(b []byte) bool { return isRTCP(b) }

// SenderReport is the NTP/RTP pair of an RTCP sender report.
type SenderReport struct {
	NTP time.Duration // since 1900-01-01 on the sender's wall clock
	RTP uint32
}

// ParseSenderReports calls fn for each SR in a compound RTCP packet.
func ParseSenderReports(b []byte, fn func(ssrc uint32, sr SenderReport)) {
	parseSenderReports(b, func(ssrc uint32, sr senderReport) {
		fn(ssrc, SenderReport{NTP: sr.ntp, RTP: sr.rtp})
	})
}

// MaxSyncCorrection bounds how far sender reports may move a stream from
// where arrival times put it.
const MaxSyncCorrection = maxSyncCorrection
