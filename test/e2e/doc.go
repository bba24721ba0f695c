// Package e2e holds end-to-end tests: they build the real binaries, run
// the daemon on loopback, drive it over HTTP and send it real media with
// Debian's ffmpeg, then judge what lands on disk.
package e2e
