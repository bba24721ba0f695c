// Package storage owns everything ars puts on disk for a recording: the
// directory layout under AGORA_FILE_ROOT (yyyy_mm_dd/ChannelName_HHMMSS/),
// Metadata.txt, and the raw capture format of the UID_HHMMSS.tmp files
// (writer, reader and the flock that marks a capture as live), and the
// crash buffers: capture write buffers in shared memory that a crash of
// the daemon leaves behind for the next start to append (crashbuf.go).
//
// The capture format is documented for users in docs/capture-format.md.
package storage
