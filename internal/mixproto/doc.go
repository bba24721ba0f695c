// Package mixproto is the one home of the wire protocol between the
// daemon (or the transcoder) and an ars-mixer process, the native
// compositor that decodes, lays out, mixes and encodes one composite.
//
// The compositor runs in its own process because its decoders and
// encoders are native code fed with hostile media: a crash or a hang
// there costs one composite, never the capture daemon. The daemon writes
// frames to the mixer's stdin and reads frames from its stdout.
//
// A frame is a 1-byte type, a 4-byte big-endian body length (at most
// MaxBody) and the body. Media bodies (VideoUnit, AudioUnit) are binary:
// a 4-byte source id, an 8-byte presentation time in nanoseconds on the
// composite's clock, a flags byte, then the payload: a video unit (an
// H.264 access unit in Annex B form, a VP8 or VP9 frame, or an AV1
// temporal unit as low-overhead OBUs), whose flags also name its codec and
// the sender's camera orientation (VideoMeta), or one Opus packet. Every
// other body is JSON of the typed structs in this package.
//
// The composite's clock starts at 0 when the composite starts. In a live
// composite (Config.Live), PTS 0 is the CLOCK_MONOTONIC reading
// Config.OriginMonotonic, which both processes can read, so the mixer can
// place units on its own pipeline clock however late the pipe delivers
// them. An offline composite (from finished captures) runs as fast as the
// mixer can go; the mixer reads its stdin only as fast as it encodes, so
// the pipe itself is the back-pressure.
//
// The same frames serve ars-mixer's second role, the audio transcoder
// (ars-mixer --audio-transcoder, aac.go): many Opus streams in, AAC
// access units out, for the MPEG-TS files of individual recordings.
package mixproto
