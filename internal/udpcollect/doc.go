// Package udpcollect receives everything an encoder sends to a loopback UDP
// port (ffmpeg's RTP output, say) and keeps it in arrival order. Test media
// (internal/testmedia) and the benchmark's media (bench/loadgen) are made
// this way.
package udpcollect
