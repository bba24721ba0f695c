package cloudrec

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/snapshot"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/webhook"
)

// Snapshots (snapshotConfig, individual mode): every captureInterval,
// per subscribed video uid, the worker asks the participant for a
// keyframe, copies the next whole one from the packets it already
// receives (snapshot.Grabber: nothing is copied while no snapshot is
// due) and hands it to an ars-mixer --snapshotter process
// (snapshot.Snapshotter, started at the session's first keyframe), which
// answers a JPEG. The worker writes it as
// <sid>_<cname>__uid_s_<uid>__uid_e_video_<UTC>.jpg, UTC the keyframe's
// arrival, and uploads it as it does segments; once it is in the
// storage, event 45 names it. A session without recordingFileConfig
// takes snapshots only: no tracks, no playlists, no fileList.

// Agora's captureInterval bounds and default, in seconds.
const (
	snapMinInterval     = 5
	snapMaxInterval     = 3600
	snapDefaultInterval = 10
)

// snapAskEvery paces the keyframe requests while a snapshot waits for
// its keyframe.
const snapAskEvery = time.Second

// maxSnapUIDs bounds the uids one session takes snapshots of (Agora's
// largest subscribeUidGroup is 49).
const maxSnapUIDs = 64

// snapCloseTimeout bounds how long the snapshotter may take to answer
// what it holds at the end of a recording before it is killed.
const snapCloseTimeout = 20 * time.Second

// fileSnapshot is the hls.FileKind of a snapshot: a file no track makes,
// which onFile uploads and lists in no fileList.
const fileSnapshot hls.FileKind = 0

// snapshotConfig is clientRequest.snapshotConfig (Agora's spellings).
type snapshotConfig struct {
	CaptureInterval *int     `json:"captureInterval"`
	FileType        []string `json:"fileType"`
}

// snapSettings is a checked snapshotConfig.
type snapSettings struct {
	interval time.Duration
	// only: no recordingFileConfig, snapshots only.
	only bool
}

// checkSnapshot checks snapshotConfig as Agora does: individual mode,
// video subscribed, captureInterval 5..3600 (default 10), fileType
// ["jpg"]. nil: no snapshots.
func (s *Service) checkSnapshot(cr *startClientRequest, mode string, streamTypes int) (*snapSettings, *apiError) {
	sc := cr.SnapshotConfig
	if sc == nil {
		return nil, nil
	}
	if mode != modeIndividual {
		return nil, invalid("snapshotConfig is only supported in individual mode")
	}
	if streamTypes == 0 {
		return nil, invalid("snapshotConfig needs video: recordingConfig.streamTypes must be 1 or 2")
	}
	st := &snapSettings{interval: snapDefaultInterval * time.Second, only: cr.RecordingFileConfig == nil}
	if sc.CaptureInterval != nil {
		if *sc.CaptureInterval < snapMinInterval || *sc.CaptureInterval > snapMaxInterval {
			return nil, invalid(fmt.Sprintf("snapshotConfig.captureInterval must be %d to %d seconds", snapMinInterval, snapMaxInterval))
		}
		st.interval = time.Duration(*sc.CaptureInterval) * time.Second
	}
	if len(sc.FileType) != 1 || sc.FileType[0] != "jpg" {
		return nil, invalid(`snapshotConfig.fileType must be ["jpg"]`)
	}
	if _, err := mixrun.FindBinary(s.cfg.MixerBin); err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, code: codeNotEnabled,
			reason: "snapshots need the ars-mixer, which this server does not have (ARS_MIXER_BIN): " + err.Error()}
	}
	return st, nil
}

// snapState is a recorder's snapshots: the worker's own, except files.
type snapState struct {
	sn      *snapshot.Snapshotter
	results chan snapshot.Result
	uids    map[uint32]*snapUID
	// down: the snapshotter could not be started; keyframes are dropped.
	down bool
	// files counts the JPEGs handed to the uploader in this run (stop
	// reads it).
	files atomic.Int64
}

// snapFilesLocked is how many snapshots the recording made, r.mu held,
// for stop's "no recorded files" (435): every upload of a snapshot-only
// session is one, a count a restart keeps (total); in a session that
// also records, those of this run.
func (r *recorder) snapFilesLocked() int {
	switch {
	case r.settings.snap == nil:
		return 0
	case r.settings.snap.only:
		return max(r.total, int(r.snap.files.Load()))
	}
	return int(r.snap.files.Load())
}

// snapUID is one uid's snapshots.
type snapUID struct {
	p    *session.Participant
	grab *snapshot.Grabber // nil: a codec no snapshot is taken of
	ssrc uint32
	// lastAt is the stream's last packet; a second stream takes over
	// once the first has gone quiet, as a track's does.
	lastAt  time.Time
	cvoID   uint8
	due     time.Time
	askedAt time.Time
	// busy: a keyframe is with the snapshotter; the next is taken after
	// its answer.
	busy bool
}

// snapTag goes with each request to the snapshotter.
type snapTag struct {
	uid uint32
	at  time.Time
}

// snapPacket runs on the worker for every subscribed video packet.
// While no snapshot is due it only compares times.
func (r *recorder) snapPacket(it item, info storage.StreamInfo, ssrc uint32) {
	st := &r.snap
	uid := it.p.UID()
	u := st.uids[uid]
	if u == nil {
		if st.uids == nil {
			st.uids = map[uint32]*snapUID{}
		}
		if len(st.uids) >= maxSnapUIDs {
			return
		}
		u = &snapUID{ssrc: ssrc, cvoID: info.ExtensionID(vcodec.CVOURI), due: it.at}
		if c := vcodec.FromName(info.Codec); c != vcodec.Unknown {
			u.grab = snapshot.NewGrabber(c)
		}
		st.uids[uid] = u
		if r.settings.snap.only {
			// No track reports the video a snapshot-only session
			// receives: event 44 says it here.
			r.streamState(trackKey{uid: uid, kind: storage.KindVideo}, 0)
		}
	}
	u.p = it.p
	if u.ssrc != ssrc {
		if it.at.Sub(u.lastAt) < time.Second {
			return
		}
		u.ssrc, u.cvoID = ssrc, info.ExtensionID(vcodec.CVOURI)
		u.grab = nil
		if c := vcodec.FromName(info.Codec); c != vcodec.Unknown {
			u.grab = snapshot.NewGrabber(c)
		}
	}
	u.lastAt = it.at
	if u.grab == nil || u.busy || it.at.Before(u.due) {
		return
	}
	u.grab.Arm()
	if it.at.Sub(u.askedAt) >= snapAskEvery {
		u.askedAt = it.at
		go it.p.RequestKeyframe() // it may block on the sender's transport
	}
	var h transcode.RTPHeader
	if transcode.ParseRTP(it.data, &h) != nil {
		return
	}
	k, ok := u.grab.Packet(it.at, h.Seq, h.TS, h.Marker, h.Payload)
	if !ok {
		return
	}
	// The next one is due an interval later on the same grid: a late
	// keyframe does not shift every snapshot after it.
	for !u.due.After(k.At) {
		u.due = u.due.Add(r.settings.snap.interval)
	}
	u.askedAt = time.Time{}
	var o vcodec.Orientation
	if u.cvoID != 0 {
		o, _ = vcodec.PacketOrientation(it.data, u.cvoID)
	}
	if !r.startSnapshotter() {
		r.snapCount(metrics.SnapshotDropped)
		return
	}
	if st.sn.Submit(snapshot.Request{Codec: k.Codec, Orientation: o, Data: k.Data, Tag: snapTag{uid: uid, at: k.At}}) {
		u.busy = true
	}
}

// startSnapshotter starts the session's snapshotter at its first
// keyframe; false when it is not running.
func (r *recorder) startSnapshotter() bool {
	st := &r.snap
	if st.sn != nil {
		return true
	}
	if st.down {
		return false
	}
	log := r.svc.log.With("sid", r.sid, "cname", r.cname)
	results := make(chan snapshot.Result, 2*snapshot.DefaultQueue)
	opts := []snapshot.Option{snapshot.WithLogger(log),
		// The worker takes the results; at most one request per uid is
		// out, so the worker falling behind only slows the snapshotter.
		snapshot.WithOnResult(func(res snapshot.Result) { results <- res }),
		snapshot.WithOnDrop(func() { r.snapCount(metrics.SnapshotDropped) }),
		snapshot.WithOnRestart(func(err error) {
			if m := r.svc.m; m != nil {
				m.SnapshotterRestarts.Inc()
			}
			log.Warn("snapshotter restarted", "error", err)
		})}
	if r.svc.cfg.MixerBin != "" {
		opts = append(opts, snapshot.WithBinary(r.svc.cfg.MixerBin))
	}
	sn, err := snapshot.New(opts...)
	if err == nil {
		err = sn.Start()
	}
	if err != nil {
		st.down = true
		log.Error("snapshotter not started: no snapshots in this recording", "error", err)
		r.event(webhook.RecordingError{Module: errModuleRecorder, ErrorLevel: errLevelMajor, ErrorCode: errCodeRecorderFailed,
			ErrorMsg: "the snapshotter did not start: " + err.Error()})
		return false
	}
	st.sn, st.results = sn, results
	return true
}

// snapResults is the worker's channel of snapshot results (nil without
// a snapshotter: never ready).
func (r *recorder) snapResults() chan snapshot.Result { return r.snap.results }

// snapResult runs on the worker for each answer: the JPEG is written and
// uploaded.
func (r *recorder) snapResult(res snapshot.Result) {
	tag, _ := res.Tag.(snapTag)
	if u := r.snap.uids[tag.uid]; u != nil {
		u.busy = false
	}
	if res.Err != nil {
		r.snapCount(metrics.SnapshotFailed)
		r.svc.log.Warn("snapshot not taken", "sid", r.sid, "uid", tag.uid, "error", res.Err)
		return
	}
	name := r.snapName(tag.uid, tag.at)
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, res.JPEG, 0o640); err != nil {
		_ = os.Remove(path)
		r.snapCount(metrics.SnapshotFailed)
		r.svc.log.Error("snapshot not written", "sid", r.sid, "file", name, "error", err)
		return
	}
	r.snap.files.Add(1)
	r.snapCount(metrics.SnapshotTaken)
	r.onFile(trackKey{uid: tag.uid, kind: storage.KindVideo}, hls.File{Kind: fileSnapshot, Name: name, Path: path, Start: tag.at})
}

// snapName is Agora's snapshot name; after a fail-over it starts with
// bak<n>_, as Agora names the files of a recording that moved.
func (r *recorder) snapName(uid uint32, at time.Time) string {
	t := at.UTC()
	name := fmt.Sprintf("%s_%s__uid_s_%d__uid_e_video_%s%03d.jpg", r.sid, r.cname, uid, t.Format("20060102150405"), t.Nanosecond()/1e6)
	if r.failovers > 0 {
		name = fmt.Sprintf("bak%d_%s", r.failovers-1, name)
	}
	return name
}

// snapLeft ends a uid's snapshots (it left).
func (r *recorder) snapLeft(uid uint32) {
	if _, ok := r.snap.uids[uid]; ok && r.settings.snap != nil && r.settings.snap.only {
		r.streamState(trackKey{uid: uid, kind: storage.KindVideo}, 1)
	}
	delete(r.snap.uids, uid)
}

// snapUploaded sends event 45 once a snapshot is in the storage (from
// the upload itself or, later, from the backup).
func (r *recorder) snapUploaded(res objstore.Result) {
	if r.settings.snap == nil || !strings.HasSuffix(res.Job.Key, ".jpg") {
		return
	}
	if res.Outcome == objstore.Uploaded || res.Outcome == objstore.Restored {
		r.event(webhook.RecorderSnapshotFile{FileName: res.Job.Key})
	}
}

// closeSnaps ends the snapshotter on the worker: what it holds is
// answered (and written and uploaded) first.
func (r *recorder) closeSnaps() {
	st := &r.snap
	for uid := range st.uids {
		r.snapLeft(uid)
	}
	if st.sn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapCloseTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.sn.Close(ctx) }()
	for waiting := true; waiting; {
		select {
		case res := <-st.results:
			r.snapResult(res)
		case err := <-done:
			if err != nil {
				r.svc.log.Warn("snapshotter killed at the end", "sid", r.sid, "error", err)
			}
			waiting = false
		}
	}
	for more := true; more; {
		select {
		case res := <-st.results:
			r.snapResult(res)
		default:
			more = false
		}
	}
	stats := st.sn.Stats()
	r.svc.log.Info("snapshots ended", "sid", r.sid, "taken", stats.Taken, "failed", stats.Failed, "dropped", stats.Dropped,
		"restarts", stats.Restarts)
	st.sn, st.results = nil, nil
}

func (r *recorder) snapCount(outcome string) {
	if m := r.svc.m; m != nil {
		m.CloudSnapshots.WithLabelValues(outcome).Inc()
	}
}
