// Package mixbench measures the composite (issue 13, item 6): what one
// ars-mixer process costs per second of media for a two-person 360p and a
// four-person 720p channel, how many live composites one box sustains in
// real time, and what the ffmpeg CLI spends on the same composite of the
// same inputs.
//
// The mixer is driven exactly as the daemon drives it: through
// internal/mixproto on its stdin, a live Config whose PTS 0 is a
// CLOCK_MONOTONIC reading, one Join per participant, a Layout in canvas
// pixels, then every H.264 access unit and Opus packet written at the
// wall-clock instant its PTS names, and End. The inputs are encoded once
// by ffmpeg (libx264, libopus) and split here into access units (Annex B)
// and packets (Ogg), so the benchmark times the compositor, not an
// encoder of test media.
//
// Every output is judged by decoding it: ffmpeg -v error -xerror must be
// silent, the decoded frame count is compared with the frames real time
// asks for, each window's centre must show its participant's colour, and
// each participant's tone must stand well above an empty band.
package mixbench
