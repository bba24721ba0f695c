// Package hls writes one live RTP track (H.264, VP8, VP9 or AV1 video, or
// Opus audio) as an HLS playlist while it arrives: media segments named
// with their UTC start time and a playlist rewritten after every segment.
// It owns no network and no scheduling; the caller feeds packets from one
// goroutine and learns of every finished file through a callback, so that
// an uploader can ship it while recording goes on. Packets pass through a
// reorder buffer (package rtpreorder, a 100 ms arrival-time window)
// before depacketization, so reordering and retransmissions within the
// window cost nothing.
//
// Config.Container chooses the segments. fMP4 (the zero value): an init
// segment and .m4s segments, HLS version 7; the sample entries (avc1,
// vp08, vp09, av01) and the display matrix of a camera orientation (CVO)
// come from package vcodec/mp4entry, which the capture converter shares.
// MPEG-TS (ts.go), as Agora's individual mode writes: .ts segments muxed
// by mediacommon's mpegts Writer, HLS version 3 with Agora's
// EXT-X-AGORA-TRACK-EVENT and EXT-X-AGORA-ROTATE tags (MPEG-TS has no
// display matrix), for H.264 video and Opus or AAC audio; VP8, VP9 and
// AV1 tracks write fMP4 whatever the Config says (Track.Container).
//
// AAC is made outside the package. An Opus track with ContainerTS and a
// Config.Transcode hook writes no Opus: the exchange is
//
//  1. the track reorders and depacketizes Opus RTP as ever, fills holes
//     with Opus silence, and calls Transcode(pts, opus) for every packet
//     in order, pts its presentation time on the track's clock (0 at the
//     first packet, continuing across senders and, for a resumed track,
//     on the wall clock), on the caller's goroutine: Transcode must not
//     block, and opus is only valid during the call;
//  2. the owner encodes (AAC-LC, 1024-sample frames) and, before the
//     first access unit, calls Track.SetAACConfig with the encoder's
//     MPEG-4 AudioSpecificConfig;
//  3. the owner calls Track.WriteAAC(pts, au) for each raw access unit
//     (no ADTS header), pts on the same clock as the Opus it came from,
//     in order, on the goroutine that calls WriteRTP; the track cuts
//     segments by duration;
//  4. at the end: Track.Flush (the reorder buffer's last packets reach
//     Transcode), the owner drains its encoder with WriteAAC, then
//     Track.Close (or Suspend).
//
// WriteMasterPlaylist writes the master playlist of Agora's standard
// stream mode joining a user's audio and video playlists (master.go).
package hls
