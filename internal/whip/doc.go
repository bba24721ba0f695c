// Package whip owns the WebRTC ingest: WHIP (RFC 9725) sessions on the
// daemon's HTTP port, their pion PeerConnections on one shared ICE port
// (UDP, with ICE-TCP on the same number as a fallback), and the path from
// each decrypted track to its session.Participant.
//
// It records what the browser sends, untouched: every RTP packet of the
// video and Opus tracks, header extensions included, and every RTCP
// sender report, so that captures of browsers and of plain RTP senders
// look alike and the converter needs no WebRTC-specific code. Video is
// negotiated in one codec, the first of H.264 (packetization-mode 1,
// baseline and main profiles), VP8, VP9 (profiles 0 and 2) and AV1 (main
// profile) that the offer has, whatever the offer's order (codecs.go);
// audio in Opus; anything else is refused in the answer. The camera
// orientation extension (urn:3gpp:video-orientation) is negotiated, and
// every negotiated extension is declared with its stream.
// It asks senders for keyframes when a recording starts, after loss (at
// most once a second) and at a fixed interval, because browsers send one
// keyframe and then none unless asked.
//
// Every answer announces the configured hosts (ARS_WEBRTC_HOSTS and
// ARS_PUBLIC_IP, names resolved at start) on the one port, or the bound
// address, or the interfaces' addresses, loopback when it is the only
// one (hosts.go). Sessions that have not connected are capped in total
// and per client address and ended after the ICE timeout (pending.go):
// anyone with a media key could otherwise make the daemon hold them.
package whip
