// Package transcode converts one participant's raw capture (the
// UID_HHMMSS.tmp files of package storage) into a fast-start MP4 with an
// H.264 video track and an Opus audio track, without re-encoding.
//
// It owns everything between raw RTP and the MP4 box tree: sequence and
// timestamp unwrapping, reordering (with package rtpreorder), H.264 and Opus
// depacketization, dropping video that would not decode after loss, filling
// audio gaps, placing both tracks on one timeline (arrival times corrected
// by RTCP sender reports) and writing the file. Deciding which captures to
// convert, temp names and renames belong to package batch.
//
// The behaviour is documented for users in docs/transcoding.md.
package transcode
