// Package webm writes WebM files (Matroska's web profile: VP8, VP9 or AV1
// video and Opus audio) with ebml-go, a maintained EBML/WebM library, as
// Agora's individual recording writes WebM slices for VP8 video. The
// caller hands it whole frames (vcodec.Assembler's output) and Opus
// packets with their presentation times; the library builds clusters,
// cues and the seek head.
package webm
