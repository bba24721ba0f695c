// Package mixer is the compositor of the ars-mixer process: one GStreamer
// pipeline that decodes every participant's video (H.264, VP8, VP9 or
// AV1, as each unit says) and Opus, turns each picture upright as its
// sender's camera orientation says (videoflip), lays the pictures out on
// a canvas (compositor), mixes the sound (audiomixer) and encodes H.264 +
// AAC into MPEG-TS segments and MP4 files (splitmuxsink).
//
// It links GStreamer through cgo and therefore never runs inside the
// capture daemon: the daemon starts one ars-mixer per composite and
// speaks internal/mixproto with it over stdin and stdout.
package mixer
