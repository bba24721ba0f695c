// Package vcodec is the one home of what ars knows about the video codecs
// it records over RTP: their names, how the first packet of a keyframe is
// recognised (H.264 RFC 6184, VP8 RFC 7741, VP9 RFC 9628, AV1 "RTP
// Payload Format for AV1"), and the camera orientation a sender signals
// in the RTP header extension urn:3gpp:video-orientation (CVO, 3GPP TS
// 26.114 section 7.4.5).
//
// Everything here reads untrusted bytes: no function panics or allocates
// on any input, because the keyframe checks run on the packet path.
package vcodec
