// Package whip owns the WebRTC ingest: WHIP (RFC 9725) sessions on the
// daemon's HTTP port, their pion PeerConnections on one shared ICE port
// (UDP, with ICE-TCP on the same number as a fallback), and the path from
// each decrypted track to its session.Participant.
//
// It records what the browser sends, untouched: every RTP packet of the
// H.264 and Opus tracks and every RTCP sender report, so that captures of
// browsers and of plain RTP senders look alike and the converter needs no
// WebRTC-specific code. Only H.264 (packetization-mode 1, baseline and main
// profiles) and Opus are negotiated; anything else is refused in the answer.
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
