// Package batch owns turning finished captures into MP4 files in bulk: the
// transcoding pass the hourly job runs over the recording root, and the
// daemon's bounded conversion pool.
//
// Both share one per-file routine (convertOne) that decides whether a
// capture is eligible, takes an exclusive flock on UID_HHMMSS.transcoding so
// that no two converters ever work on the same capture, converts into that
// file and renames it to UID_HHMMSS.mp4 only once it is complete and synced.
// A crash therefore never leaves a partial MP4 under its final name, and a
// .transcoding file nobody holds a lock on is simply redone.
//
// Converting one capture is internal/transcode's job; this package only
// schedules, guards and reports.
package batch
