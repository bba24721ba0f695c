package cloudrec

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/webhook"
)

// A recording whose files cannot be written (a full disk, most often)
// keeps running: each failing track drops its packets for
// DefaultWriteRetry, then tries again and, once a write succeeds, resumes
// at the next keyframe in a new segment after an EXT-X-DISCONTINUITY.
// Meanwhile query answers statusAbnormal and the webhook gets event 1;
// the resumption is event 42 with discontinueUtcMs, as Agora reports a
// recording it resumed. A file that can neither be uploaded nor backed up
// is lost: it leaves the playlist, the stop answer names it and the
// recording never claims "uploaded" or "backuped".

// DefaultWriteRetry is how long a track that failed to write waits before
// it tries again: the pause of plain recordings (internal/session), so a
// full disk costs a few retries a minute, not one per packet.
const DefaultWriteRetry = 5 * time.Second

// statusAbnormal is Agora's query status 20 ("the recording exits
// abnormally"): ars answers it while a track cannot write, and status 5
// again once every track writes.
const statusAbnormal = 20

// Fields of event 1 cloud_recording_error (Agora's numbers).
const (
	errModuleRecorder = 0
	errModuleUploader = 1
	// errLevelMajor: media is being lost, the recording goes on.
	errLevelMajor = 4
	// errCodeRecorderFailed is the recorder's general error (ERR_FAILED
	// of Agora's recording SDK).
	errCodeRecorderFailed = 1
	// errCodeUploadFailed is Agora's "the recording file upload fails".
	errCodeUploadFailed = 47
)

// lostFile names a file that never reached storage.
type lostFile = webhook.LostFile

// setFailing moves a track into or out of the failing state, keeping the
// recorder's count (query's status) and the gauge with it.
func (r *recorder) setFailing(ts *trackState, failing bool) {
	ts.failing = failing
	d := 1
	if !failing {
		d = -1
	}
	r.mu.Lock()
	r.failingTracks += d
	r.mu.Unlock()
	if m := r.svc.m; m != nil {
		m.CloudTracksFailing.Add(float64(d))
	}
}

// writeFailed runs on the worker when a track's write failed: the track
// pauses, and the first failure of a run is reported.
func (r *recorder) writeFailed(k trackKey, ts *trackState, at time.Time, err error) {
	ts.retryAt = at.Add(r.svc.cfg.WriteRetry)
	if m := r.svc.m; m != nil {
		m.CloudWriteErrors.Inc()
	}
	if ts.failing {
		r.svc.log.Debug("track still failing", "sid", r.sid, "track", ts.t.Name(), "error", err)
		return
	}
	r.setFailing(ts, true)
	reason := "write failed"
	if errors.Is(err, syscall.ENOSPC) {
		reason = "disk full"
	}
	r.svc.log.Error("track cannot write; retrying", "sid", r.sid, "track", ts.t.Name(), "retry_in", r.svc.cfg.WriteRetry, "error", err)
	r.event(webhook.RecordingError{Module: errModuleRecorder, ErrorLevel: errLevelMajor, ErrorCode: errCodeRecorderFailed,
		Stat: 1, ErrorMsg: reason + ": " + err.Error() + "; retrying every " + r.svc.cfg.WriteRetry.String(),
		StreamUID: strconv.FormatUint(uint64(k.uid), 10), TrackType: k.kind, UtcMs: at.UnixMilli()})
}

// trackIdle runs on the worker when a track's sender left: a track
// without media is not failing to write, so it no longer holds query at
// statusAbnormal. Its next failure, if any, is reported again.
func (r *recorder) trackIdle(ts *trackState) {
	if !ts.failing {
		return
	}
	r.setFailing(ts, false)
}

// segmentWritten runs on the worker for each new segment: after a failure
// it is the resumption.
func (r *recorder) segmentWritten(k trackKey, f hls.File) {
	ts := r.tracks[k]
	if ts == nil {
		return
	}
	defer func() { ts.lastEnd = f.Start.Add(f.Duration) }()
	if !ts.failing {
		return
	}
	r.setFailing(ts, false)
	gapFrom := ts.lastEnd
	if gapFrom.IsZero() {
		gapFrom = f.Start
	}
	r.svc.log.Info("track writes again", "sid", r.sid, "track", ts.t.Name(), "gap", f.Start.Sub(gapFrom).Round(time.Millisecond))
	r.event(webhook.RecorderSliceStart{StartUtcMs: f.Start.UnixMilli(), DiscontinueUtcMs: gapFrom.UnixMilli(), MixedAllUser: false,
		Streams: []webhook.SliceStream{{StreamUID: strconv.FormatUint(uint64(k.uid), 10), TrackType: k.kind,
			StartUtcMs: f.Start.UnixMilli()}}})
}

// reportLost logs, counts and announces a lost file (event 1 from the
// uploader module). It runs without r.mu, before the file's upload is
// settled, so that the event precedes the recording's last events.
func (r *recorder) reportLost(key string, err error) {
	r.mu.Lock()
	o := r.owner[key]
	r.mu.Unlock()
	if m := r.svc.m; m != nil {
		m.CloudFilesLost.Inc()
	}
	r.svc.log.Error("recorded file lost: neither uploaded nor backed up", "sid", r.sid, "key", key, "error", err)
	d := webhook.RecordingError{Module: errModuleUploader, ErrorLevel: errLevelMajor, ErrorCode: errCodeUploadFailed,
		Stat: 1, FileName: key, ErrorMsg: "file lost: " + errMsg(err)}
	if o.kind != "" {
		d.StreamUID, d.TrackType = strconv.FormatUint(uint64(o.uid), 10), o.kind
	}
	r.event(d)
	if strings.HasSuffix(key, ".m4s") || strings.HasSuffix(key, ".ts") {
		// The worker takes the segment out of its playlist; if its inbox
		// is full, exit does (it checks every lost segment).
		select {
		case r.in <- item{kind: itemLost, lostKey: key}:
		default:
		}
	}
}

func errMsg(err error) string {
	if err == nil {
		return "not queued"
	}
	return err.Error()
}

// dropLost runs on the worker: a lost segment leaves its playlist. It
// returns the track whose playlist changed.
func (r *recorder) dropLost(key string) *hls.Track {
	r.mu.Lock()
	o := r.owner[key]
	r.mu.Unlock()
	ts := r.tracks[o]
	if ts == nil || ts.t == nil {
		return nil
	}
	name := key[strings.LastIndexByte(key, '/')+1:]
	if !ts.t.DropSegment(name) {
		return nil
	}
	r.svc.log.Info("lost segment taken out of the playlist", "sid", r.sid, "segment", name)
	return ts.t
}

// dropAllLost runs on the worker after the tracks closed: segments lost
// after their track's last playlist leave it now, and the corrected
// playlists are written and uploaded again. It reports whether any was.
func (r *recorder) dropAllLost() bool {
	r.mu.Lock()
	keys := make([]string, 0, len(r.lost))
	for k := range r.lost {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	changed := map[*hls.Track]bool{}
	for _, k := range keys {
		if t := r.dropLost(k); t != nil {
			changed[t] = true
		}
	}
	for t := range changed {
		if err := t.RewritePlaylist(); err != nil {
			r.svc.log.Error("playlist not rewritten without its lost segments", "sid", r.sid, "track", t.Name(), "error", err)
		}
	}
	return len(changed) > 0
}

// markLost remembers, for an ended recording, that files were lost: a
// restored backup then does not announce "uploaded".
func (s *Service) markLost(r *recorder, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ended[r.sid]
	if e == nil {
		// forget keeps this entry: it is there before the recording
		// leaves the running ones, so no restored backup slips between.
		e = &endedSession{at: s.now(), cname: r.cname, uid: r.uidStr}
		s.ended[r.sid] = e
	}
	e.lost = n
}

// endedLost reports whether an ended recording lost files.
func (s *Service) endedLost(sid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ended[sid]
	return e != nil && e.lost > 0
}
