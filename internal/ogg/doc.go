// Package ogg reads the packets of an Ogg file (RFC 3533): the Opus that
// ffmpeg's libopus writes, which the tests and benchmarks feed to the
// recorders as RTP payloads. It reads only; it is the one Ogg reader of
// the module.
package ogg
