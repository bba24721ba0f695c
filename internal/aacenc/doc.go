// Package aacenc is the daemon's side of the audio transcoder: it starts
// and supervises one `ars-mixer --audio-transcoder` process (internal/
// aacproc), which turns the Opus packets of many streams into AAC access
// units for the MPEG-TS files of individual recordings (Agora's format).
// The native codecs run in that child; this package is pure Go, so the
// capture daemon stays static.
//
// The packet path never blocks: Stream.Write copies the packet into one
// bounded queue per process and returns false (counting
// ars_aac_dropped_packets_total) when it is full. A writer goroutine
// hands the queue to the child's stdin; a reader goroutine reads its
// stdout and calls the WithOnAAC callback. A child that dies or goes
// silent (a hang) is replaced: every open stream is opened again in the
// new one, the packets that died with the old one are a gap in the
// output, each stream's AAC config is delivered again (Restart set), and
// ars_aac_restarts_total counts it.
package aacenc
