// Package snapshot takes JPEG snapshots of live video for a cloud
// recording's snapshotConfig, without decoding anything in the daemon.
//
// A Grabber watches one RTP video stream and, once armed, copies the
// next whole keyframe (and only it: the packet path copies nothing while
// no snapshot is due). A Snapshotter supervises one ars-mixer
// --snapshotter process, which decodes each keyframe it is handed with
// GStreamer and answers the JPEG (internal/mixproto's snapshot frames).
// Hand-offs never block: a full queue drops the request and says so; a
// crashed or hung child is restarted, and the requests it held fail.
package snapshot
