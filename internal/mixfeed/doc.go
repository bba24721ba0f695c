// Package mixfeed turns participants' RTP into what a composite consumes:
// video units (H.264 access units in Annex B with parameter sets in front
// of every IDR picture; VP8 and VP9 frames and AV1 temporal units from
// vcodec.Assembler), each with its codec and the sender's camera
// orientation (CVO) when the stream declares it, and Opus packets, each
// with a presentation time on the composite's clock (nanoseconds since
// the composite's start).
//
// Live is a session.MembershipSink feeding a running composite from the
// packet path; Offline reads the finished captures of a recording
// directory and feeds a composite in global time order. Both use one
// per-participant feed: reorder, depacketize, and place each unit by its
// arrival time smoothed with its RTP timestamp, with a participant's audio
// and video aligned by their RTCP sender reports when both have them.
package mixfeed
