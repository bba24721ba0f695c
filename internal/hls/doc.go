// Package hls writes one live RTP track (H.264, VP8, VP9 or AV1 video, or
// Opus audio) as an HLS playlist of fragmented-MP4 segments while it
// arrives: an init segment, media segments named with their UTC start
// time, and a playlist rewritten after every segment. It owns no network
// and no scheduling; the caller feeds packets from one goroutine and
// learns of every finished file through a callback, so that an uploader
// can ship it while recording goes on. Packets pass through a reorder
// buffer (package rtpreorder, a 100 ms arrival-time window) before
// depacketization, so reordering and retransmissions within the window
// cost nothing. The sample entries (avc1, vp08, vp09, av01) and the
// display matrix of a camera orientation (CVO) come from package
// vcodec/mp4entry, which the capture converter shares.
package hls
