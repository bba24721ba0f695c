package cloudrec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

// inboxSize bounds the packets waiting for the recorder's goroutine; past
// it packets are dropped rather than stalling the packet path.
const inboxSize = 8192

type itemKind int

const (
	itemPacket itemKind = iota
	itemJoined
	itemLeft
	itemUpdate
	itemLost // a file's upload was lost (diskfull.go)
	// itemMembership: someone joined or left the composite (mix.go).
	itemMembership
)

type item struct {
	kind itemKind
	p    *session.Participant
	at   time.Time
	data []byte
	upd  subscriptionUpdate
	// lostKey is the storage key of a lost file (itemLost).
	lostKey string
}

type subscriptionUpdate struct {
	audio, video *uidFilter
}

type trackKey struct {
	uid  uint32
	kind string
}

type trackState struct {
	t      *hls.Track
	ssrc   uint32
	lastAt time.Time
	// unusable: the stream cannot be recorded (its codec); it never is.
	unusable bool
	// failing: the last write failed; packets are dropped until retryAt,
	// then the track tries again (diskfull.go).
	failing bool
	retryAt time.Time
	// lastEnd is the wall-clock end of the last segment written.
	lastEnd time.Time
}

// recorder is one running recording: a sink on its channel and the
// goroutine that writes its tracks.
type recorder struct {
	svc                     *Service
	rid, sid, cname, uidStr string
	uid                     uint32
	settings                recorderSettings
	dir                     string
	started                 time.Time

	in         chan item
	exitReq    chan string
	closedOut  chan struct{} // tracks finished, file list final
	finished   chan struct{} // uploads settled, events sent
	removeSink func()
	dropped    atomic.Int64
	// mix is the composite of a mix-mode recording (nil: individual).
	mix *mixState
	// mode and request are the start's, kept for the state store
	// (persist.go); resumed is set for a recorder brought back after a
	// restart (resume.go), failovers counts those restarts.
	mode      string
	request   startRequest
	resumed   *resumeInfo
	failovers int
	// closeLeftovers: at exit, end the playlists of an earlier run that
	// no track took over (worker).
	closeLeftovers bool
	// lastSave and saveMark pace checkpoints (worker).
	lastSave time.Time
	saveMark [4]int

	// worker-only state
	subs       subscription
	parts      map[*session.Participant]map[uint32]storage.StreamInfo
	tracks     map[trackKey]*trackState
	emptySince time.Time
	sliced     bool
	lastProg   time.Time

	mu        sync.Mutex
	cond      *sync.Cond
	status    int
	files     []fileInfo
	pending   int
	total     int
	uploaded  int
	backuped  bool
	exitCause string
	// failingTracks counts tracks that cannot write: query answers
	// statusAbnormal meanwhile.
	failingTracks int
	// owner maps every file's storage key to its track; lost holds the
	// keys of files that never reached storage.
	owner map[string]trackKey
	lost  map[string]trackKey
	// savedSubs and savedLayout are the subscriptions and layout as last
	// updated, for the state store (the worker holds its own copy).
	savedSubs   subscription
	savedLayout *layoutFields
	// stopping is the cause of an exit under way.
	stopping string

	evMu sync.Mutex
	seq  int
}

func newRecorder(s *Service, rid, sid, cname, uidStr string, uid uint32, st recorderSettings) *recorder {
	r := &recorder{svc: s, rid: rid, sid: sid, cname: cname, uidStr: uidStr, uid: uid, settings: st,
		dir: filepath.Join(s.cfg.WorkDir, sid), started: s.now(), in: make(chan item, inboxSize),
		exitReq: make(chan string, 1), closedOut: make(chan struct{}), finished: make(chan struct{}),
		subs: st.subs, parts: map[*session.Participant]map[uint32]storage.StreamInfo{},
		tracks: map[trackKey]*trackState{}, status: statusRunning,
		owner: map[string]trackKey{}, lost: map[string]trackKey{}, savedSubs: st.subs}
	r.cond = sync.NewCond(&r.mu)
	r.emptySince = r.started
	r.lastProg = r.started
	return r
}

func (r *recorder) start() error {
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if r.settings.mix != nil {
		if err := r.startMix(); err != nil {
			_ = os.RemoveAll(r.dir)
			return err
		}
	}
	go r.run()
	remove, err := r.svc.channels.AddSink(r.cname, r)
	if err != nil {
		r.requestExit("failed")
		<-r.finished
		return err
	}
	r.mu.Lock()
	r.removeSink = remove
	r.mu.Unlock()
	r.event(webhook.EventRecorderStarted, webhook.ServiceRecorder, map[string]any{"msgName": "recorder_started", "status": 0})
	r.event(webhook.EventUploaderStarted, webhook.ServiceUploader, map[string]any{"msgName": "uploader_started", "status": 0})
	r.svc.log.Info("cloud recording started", "sid", r.sid, "cname", r.cname, "uid", r.uidStr)
	return nil
}

// Packet is the session sink: it runs on the packet path, so it only
// copies the packet into the inbox.
func (r *recorder) Packet(p *session.Participant, kind storage.RecordKind, now time.Time, pkt []byte) {
	if r.mix != nil {
		r.mix.live.Packet(p, kind, now, pkt)
		return
	}
	if kind != storage.RecordRTP || len(pkt) < 12 {
		return
	}
	select {
	case r.in <- item{kind: itemPacket, p: p, at: now, data: append([]byte(nil), pkt...)}:
	default:
		r.dropped.Add(1)
	}
}

// Joined is the membership sink.
func (r *recorder) Joined(p *session.Participant) {
	if r.mix != nil {
		r.mix.live.Joined(p)
	}
	r.send(item{kind: itemJoined, p: p})
}

// Left is the membership sink.
func (r *recorder) Left(p *session.Participant) {
	if r.mix != nil {
		r.mix.live.Left(p)
	}
	r.send(item{kind: itemLeft, p: p})
}

func (r *recorder) send(it item) {
	select {
	case r.in <- it:
	case <-r.closedOut:
	}
}

func (r *recorder) update(u subscriptionUpdate) bool {
	select {
	case r.in <- item{kind: itemUpdate, upd: u}:
		return true
	case <-r.closedOut:
		return false
	}
}

func (r *recorder) requestExit(cause string) {
	select {
	case r.exitReq <- cause:
	default:
	}
}

func (r *recorder) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case it := <-r.in:
			r.handle(it)
		case fc := <-r.mixFiles():
			r.mixFile(fc)
		case now := <-tick.C:
			if len(r.parts) == 0 && now.Sub(r.emptySince) > r.settings.maxIdle {
				r.exit("idle")
				return
			}
			if now.Sub(r.lastProg) >= r.svc.cfg.ProgressEvery {
				r.lastProg = now
				r.progress()
			}
			r.checkpoint(now)
		case cause := <-r.exitReq:
			if cause == causeSuspend {
				r.suspend()
			} else {
				r.exit(cause)
			}
			return
		}
	}
}

func (r *recorder) handle(it item) {
	switch it.kind {
	case itemJoined:
		if it.p.UID() == r.uid {
			return
		}
		if _, ok := r.parts[it.p]; !ok {
			r.parts[it.p] = streamMap(it.p)
		}
	case itemLeft:
		if _, ok := r.parts[it.p]; !ok {
			return
		}
		delete(r.parts, it.p)
		if len(r.parts) == 0 {
			r.emptySince = r.svc.now()
		}
		for k, ts := range r.tracks {
			if k.uid == it.p.UID() && !ts.unusable {
				r.streamState(k, 1)
				r.trackIdle(ts)
			}
		}
	case itemUpdate:
		if it.upd.audio != nil {
			r.subs.audio = *it.upd.audio
		}
		if it.upd.video != nil {
			r.subs.video = *it.upd.video
		}
		r.mixSubscriptions()
	case itemPacket:
		r.packet(it)
	case itemLost:
		r.dropLost(it.lostKey)
	case itemMembership:
		r.mixMembership()
	}
}

func streamMap(p *session.Participant) map[uint32]storage.StreamInfo {
	m := map[uint32]storage.StreamInfo{}
	for _, s := range p.Streams() {
		m[s.SSRC] = s
	}
	return m
}

func (r *recorder) packet(it item) {
	streams, ok := r.parts[it.p]
	if !ok {
		if it.p.UID() == r.uid {
			return
		}
		streams = streamMap(it.p)
		r.parts[it.p] = streams
	}
	ssrc := binary.BigEndian.Uint32(it.data[8:12])
	info, ok := streams[ssrc]
	if !ok {
		// A stream added after joining.
		for _, s := range it.p.Streams() {
			streams[s.SSRC] = s
		}
		if info, ok = streams[ssrc]; !ok {
			return
		}
	}
	uid := it.p.UID()
	switch info.Kind {
	case storage.KindAudio:
		if r.settings.audioOff || !r.subs.audio.wants(uid) {
			return
		}
	case storage.KindVideo:
		if r.settings.videoOff || !r.subs.video.wants(uid) {
			return
		}
	default:
		return
	}
	key := trackKey{uid: uid, kind: info.Kind}
	ts := r.tracks[key]
	if ts == nil {
		ts = r.newTrack(key, info)
		ts.ssrc = ssrc
	}
	if ts.unusable {
		return
	}
	if ts.failing && it.at.Before(ts.retryAt) {
		// Not yet time to try the disk again.
		r.dropped.Add(1)
		return
	}
	if ts.ssrc != ssrc {
		// A second stream of the same kind takes over only once the
		// first has gone quiet.
		if it.at.Sub(ts.lastAt) < time.Second {
			return
		}
		ts.ssrc = ssrc
	}
	ts.lastAt = it.at
	if err := ts.t.WriteRTP(it.at, it.data); err != nil {
		r.writeFailed(key, ts, it.at, err)
	}
}

func trackName(sid, cname string, uid uint32, kind string) string {
	return fmt.Sprintf("%s_%s__uid_s_%d__uid_e_%s", sid, cname, uid, kind)
}

func (r *recorder) newTrack(key trackKey, info storage.StreamInfo) *trackState {
	ts := &trackState{}
	r.tracks[key] = ts
	t, err := hls.NewTrack(hls.Config{Dir: r.dir, Name: trackName(r.sid, r.cname, key.uid, key.kind),
		Kind: info.Kind, Codec: info.Codec, ClockRate: info.ClockRate, Channels: int(info.Channels),
		SegmentDuration: r.svc.cfg.SegmentDuration, MP4: r.settings.mp4, Log: r.svc.log, Resume: r.resumed != nil,
		OnFile: func(f hls.File) { r.onFile(key, f) }})
	if err != nil {
		ts.unusable = true
		r.svc.log.Warn("stream not recordable", "sid", r.sid, "uid", key.uid, "codec", info.Codec, "error", err)
		return ts
	}
	ts.t = t
	r.streamState(key, 0)
	return ts
}

// streamState sends event 43 (audio) or 44 (video): state 0 means the
// stream is being received, 1 that it stopped.
func (r *recorder) streamState(k trackKey, state int) {
	ev, msg := webhook.EventAudioStreamStateChanged, "recorder_audio_stream_state_changed"
	if k.kind == storage.KindVideo {
		ev, msg = webhook.EventVideoStreamStateChanged, "recorder_video_stream_state_changed"
	}
	r.event(ev, webhook.ServiceRecorder, map[string]any{"msgName": msg, "UtcMs": r.svc.now().UnixMilli(),
		"streams": []map[string]any{{"streamUid": strconv.FormatUint(uint64(k.uid), 10), "state": state}}})
}

func (r *recorder) key(name string) string {
	if r.settings.prefix == "" {
		return name
	}
	return r.settings.prefix + "/" + name
}

// onFile runs on the worker goroutine for every finished file.
func (r *recorder) onFile(k trackKey, f hls.File) {
	key := r.key(f.Name)
	if f.Kind == hls.FileSegment && !r.sliced {
		r.sliced = true
		ms := f.Start.UnixMilli()
		streams := []map[string]any{{"streamUid": strconv.FormatUint(uint64(k.uid), 10), "trackType": k.kind, "startUtcMs": ms}}
		if r.mix != nil {
			streams = []map[string]any{}
		}
		r.event(webhook.EventRecorderSliceStart, webhook.ServiceRecorder, map[string]any{"msgName": "recorder_slice_start",
			"startUtcMs": ms, "discontinueUtcMs": ms, "mixedAllUser": r.mix != nil, "streams": streams})
	}
	if f.Kind == hls.FileSegment {
		r.segmentWritten(k, f)
	}
	r.mu.Lock()
	r.owner[key] = k
	r.mu.Unlock()
	queued, err := r.svc.uploader.Submit(objstore.Job{Session: r.sid, Dest: r.settings.dest, Key: key, File: f.Path})
	if err != nil {
		// Never queued, never backed up: lost.
		r.reportLost(key, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lost[key] = k
	} else if queued {
		r.pending++
		r.total++
	}
	if f.Kind == hls.FilePlaylist || f.Kind == hls.FileMP4 {
		for _, fi := range r.files {
			if fi.FileName == key {
				return
			}
		}
		r.files = append(r.files, fileInfo{FileName: key, TrackType: k.kind, UID: strconv.FormatUint(uint64(k.uid), 10),
			MixedAllUser: r.mix != nil, IsPlayable: true, SliceStartTime: f.Start.UnixMilli()})
		// A new file in the list: saved now, not at the next checkpoint
		// (query and stop after a restart must name it).
		r.mu.Unlock()
		r.saveOrCount()
		r.mu.Lock()
	}
}

func (r *recorder) uploadResult(res objstore.Result) {
	if res.Outcome == objstore.Lost {
		r.reportLost(res.Job.Key, res.Err)
	} else if r.svc.durable {
		r.markStored(res.Job.Key)
	}
	r.mu.Lock()
	switch res.Outcome {
	case objstore.Uploaded:
		r.pending--
		r.uploaded++
		// A newer version (a playlist) made it: the key is not lost.
		delete(r.lost, res.Job.Key)
	case objstore.Backuped:
		r.pending--
		r.backuped = true
		delete(r.lost, res.Job.Key)
	case objstore.Restored:
		r.uploaded++
		delete(r.lost, res.Job.Key)
	case objstore.Lost:
		r.pending--
		r.lost[res.Job.Key] = r.owner[res.Job.Key]
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

func (r *recorder) progress() {
	r.mu.Lock()
	p := 10000
	if r.total > 0 {
		p = r.uploaded * 10000 / r.total
	}
	r.mu.Unlock()
	r.event(webhook.EventUploadingProgress, webhook.ServiceUploader, map[string]any{"msgName": "uploading_progress", "progress": p})
}

func (r *recorder) snapshot() (int, fileList) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == statusRunning && r.failingTracks > 0 {
		return statusAbnormal, r.fileListLocked()
	}
	return r.status, r.fileListLocked()
}

// fileListLocked is the fileList of query and stop, r.mu held: Agora
// names the playlist alone (fileListMode "string") for a composite of
// HLS only, and lists entries otherwise.
func (r *recorder) fileListLocked() fileList {
	if r.settings.mix != nil && !r.settings.mp4 {
		fl := fileList{isName: true}
		if len(r.files) > 0 {
			fl.name = r.files[0].FileName
		}
		return fl
	}
	return fileList{entries: append([]fileInfo{}, r.files...)}
}

// exit finishes the recording: tracks closed, uploads settled, events
// sent, the recorder forgotten.
func (r *recorder) exit(cause string) {
	r.mu.Lock()
	remove := r.removeSink
	r.stopping = cause
	r.mu.Unlock()
	if cause != "shutdown" {
		// A restart from here on finishes the recording instead of
		// resuming it.
		r.saveOrCount()
	}
	if remove != nil {
		remove()
	}
	if r.mix != nil {
		r.closeMix()
	}
	r.finishLeftovers()
	for _, ts := range r.tracks {
		if ts.t == nil {
			continue
		}
		if err := ts.t.Close(); err != nil && !errors.Is(err, hls.ErrNoMedia) {
			r.svc.log.Error("track close", "sid", r.sid, "track", ts.t.Name(), "error", err)
		}
	}
	r.mu.Lock()
	r.status = statusStopped
	r.exitCause = cause
	r.mu.Unlock()
	close(r.closedOut)
	leave := 0
	if cause == "idle" {
		leave = 2
	}
	r.event(webhook.EventRecorderLeave, webhook.ServiceRecorder, map[string]any{"msgName": "recorder_leave", "leaveCode": leave})
	r.waitUploads()
	// Segments lost after their playlist's last version leave it now.
	if r.dropAllLost() {
		r.waitUploads()
	}
	r.mu.Lock()
	backuped, files, lost := r.backuped, append([]fileInfo{}, r.files...), r.lostListLocked()
	r.mu.Unlock()
	r.progress()
	switch {
	case len(lost) > 0:
		// Neither 31 nor 32: not every file reached storage or backup.
		r.svc.markLost(r, len(lost))
		r.event(webhook.EventError, webhook.ServiceCloudRecording, map[string]any{"msgName": "cloud_recording_error",
			"module": errModuleUploader, "errorLevel": errLevelMajor, "errorCode": errCodeUploadFailed, "stat": 1,
			"errorMsg": strconv.Itoa(len(lost)) + " recorded files were lost", "lostFiles": lost})
	case backuped:
		r.event(webhook.EventBackuped, webhook.ServiceUploader, map[string]any{"msgName": "backuped", "status": 0})
	default:
		r.event(webhook.EventUploaded, webhook.ServiceUploader, map[string]any{"msgName": "uploaded", "status": 0})
	}
	r.event(webhook.EventFileInfos, webhook.ServiceCloudRecording, map[string]any{"msgName": "file_infos", "fileList": files})
	r.event(webhook.EventSessionExit, webhook.ServiceCloudRecording, map[string]any{"msgName": "session_exit", "exitStatus": 0})
	// Backups are copies, so the working files can go.
	if err := os.RemoveAll(r.dir); err != nil {
		r.svc.log.Warn("work dir not removed", "dir", r.dir, "error", err)
	}
	r.mu.Lock()
	r.status = statusExited
	r.mu.Unlock()
	r.forgetRecord()
	r.svc.log.Info("cloud recording ended", "sid", r.sid, "cause", cause, "files", len(files), "backuped", backuped,
		"lost", len(lost), "dropped_packets", r.dropped.Load())
	if m := r.svc.m; m != nil && r.failingTracks > 0 {
		m.CloudTracksFailing.Sub(float64(r.failingTracks))
	}
	r.svc.forget(r, nil)
	close(r.finished)
}

// stop ends the recording and answers as Agora does: the file list and
// the upload state, or 435 when nothing was recorded.
func (r *recorder) stop(async bool) (*stopResponse, bool) {
	select {
	case <-r.closedOut:
		// Already stopped (by another stop or by idleness).
		return nil, false
	default:
	}
	r.requestExit("stop")
	<-r.closedOut
	if !async {
		done := make(chan struct{})
		go func() {
			select {
			case <-r.finished:
			case <-time.After(r.svc.cfg.StopWait):
			}
			close(done)
		}()
		<-done
	}
	r.mu.Lock()
	resp := &stopResponse{Cname: r.cname, UID: r.uidStr, ResourceID: r.rid, SID: r.sid,
		ServerResponse: stopServerResponse{FileList: r.fileListLocked(),
			UploadingStatus: r.uploadStateLocked(), LostFiles: r.lostListLocked()}}
	nfiles := len(r.files)
	r.mu.Unlock()
	resp.ServerResponse.FileListMode = resp.ServerResponse.FileList.mode()
	if nfiles == 0 {
		resp.Code, resp.Reason = codeNoFile, "no recorded files were generated"
		resp.ServerResponse.UploadingStatus = uploadUnknown
		r.svc.setReplay(r, resp)
	}
	return resp, true
}

// waitUploads waits until every queued upload is settled.
func (r *recorder) waitUploads() {
	r.mu.Lock()
	for r.pending > 0 {
		r.cond.Wait()
	}
	r.mu.Unlock()
}

// event queues one webhook event with the recording's next sequence
// number.
func (r *recorder) event(ev, service int, details map[string]any) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	r.seq++
	r.svc.notify(ev, service, webhook.Payload{Cname: r.cname, UID: r.uidStr, SID: r.sid, Sequence: r.seq, Details: details})
}
