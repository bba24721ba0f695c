// Package testmedia is test support for everything that handles recorded
// media: it generates real H.264 and Opus RTP streams with the system's
// ffmpeg (lavfi testsrc2 and sine through libx264 and libopus, sent with
// ffmpeg's own RTP packetizer to loopback sockets read here), damages them
// deterministically (loss, reordering, duplicates, wrap-around, SSRC
// changes), writes them as ars captures and judges MP4 outputs with
// ffmpeg and ffprobe.
//
// It is imported only from tests. Nothing here mocks a codec: a test that
// needs media gets packets an encoder produced during the test run.
package testmedia
