package cloudrec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

// recorder is one running recording: a sink on its channel (this file),
// the goroutine that writes its tracks (worker.go) and the bookkeeping of
// its uploads (uploads.go). Its state is split by who touches it and what
// a restart keeps:
//   - sessionState (record.go): what the state store keeps;
//   - workerState (worker.go): the media worker's, unlocked;
//   - uploadBook (uploads.go): upload bookkeeping, under mu.
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
	removeSink func()        // under mu
	dropped    atomic.Int64
	// mix is the composite of a mix-mode recording (nil: individual),
	// set before the worker runs.
	mix *mixState
	// resumed is set for a recorder brought back after a restart
	// (resume.go).
	resumed *resumeInfo

	// mu guards uploadBook and what changes in sessionState; cond
	// signals each settled upload (waitUploads).
	mu   sync.Mutex
	cond *sync.Cond
	// evMu keeps the webhook sequence in the order events are queued.
	evMu sync.Mutex

	sessionState
	workerState
	uploadBook
}

func newRecorder(s *Service, rid, sid, cname, uidStr string, uid uint32, st recorderSettings) *recorder {
	now := s.now()
	r := &recorder{svc: s, rid: rid, sid: sid, cname: cname, uidStr: uidStr, uid: uid, settings: st,
		dir: filepath.Join(s.cfg.WorkDir, sid), started: now, in: make(chan item, inboxSize),
		exitReq: make(chan string, 1), closedOut: make(chan struct{}), finished: make(chan struct{}),
		sessionState: sessionState{savedSubs: st.subs}, workerState: newWorkerState(st.subs, now),
		uploadBook: newUploadBook()}
	r.cond = sync.NewCond(&r.mu)
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
	r.event(webhook.RecorderStarted{Status: 0})
	r.event(webhook.UploaderStarted{Status: 0})
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

// exit finishes the recording: tracks closed, uploads settled, events
// sent, the recorder forgotten (worker).
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
	r.closeSnaps()
	r.closeAAC()
	r.finishLeftovers()
	for _, ts := range r.tracks {
		if ts.t == nil {
			continue
		}
		if err := ts.t.Close(); err != nil && !errors.Is(err, hls.ErrNoMedia) {
			r.svc.log.Error("track close", "sid", r.sid, "track", ts.t.Name(), "error", err)
		}
	}
	r.writeAllAV()
	r.mu.Lock()
	r.status = statusStopped
	r.exitCause = cause
	r.mu.Unlock()
	close(r.closedOut)
	r.event(webhook.RecorderLeave{LeaveCode: leaveCode(cause)})
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
		r.event(webhook.RecordingError{Module: errModuleUploader, ErrorLevel: errLevelMajor, ErrorCode: errCodeUploadFailed,
			Stat: 1, ErrorMsg: strconv.Itoa(len(lost)) + " recorded files were lost", LostFiles: lost})
	case backuped:
		r.event(webhook.Backuped{Status: 0, FileList: webhookFiles(files)})
	default:
		r.event(webhook.Uploaded{Status: 0, FileList: webhookFiles(files)})
	}
	exitStatus := 0
	if cause == "failed" {
		exitStatus = 1
	}
	r.event(webhook.SessionExit{ExitStatus: exitStatus})
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
	r.mu.Lock()
	var final *stopResponse
	if r.stopPending {
		// A stop was told 65: its repeat gets this answer.
		final = r.stopAnswerLocked()
	}
	r.mu.Unlock()
	r.svc.forget(r, nil)
	r.svc.endedBy(r, cause == "stop", final)
	close(r.finished)
}

// leaveCode is Agora's recorder_leave bitmask for an exit's cause.
func leaveCode(cause string) int {
	switch cause {
	case "idle":
		return webhook.LeaveNoUsers
	case "stop":
		return webhook.LeaveClientLeave
	case "shutdown", causeSuspend:
		return webhook.LeaveSignal
	}
	// "failed": the recorder could not start or carry on.
	return webhook.LeaveInit
}

// statusUpdate sends event 3: a call did not match the recording's state
// (a start with its resource, a stop while it stops).
func (r *recorder) statusUpdate() {
	r.mu.Lock()
	status := r.status
	var playlist string
	for _, f := range r.files {
		if strings.HasSuffix(f.FileName, ".m3u8") {
			playlist = f.FileName
			break
		}
	}
	r.mu.Unlock()
	mode := webhook.RecordingModeIndividual
	if r.settings.mix != nil {
		mode = webhook.RecordingModeMix
	}
	r.event(webhook.StatusUpdate{Status: status, RecordingMode: mode, FileList: playlist})
}

// notFound is the 404 of a call (command) on this recording once it has
// ended.
func (r *recorder) notFound(command string) *apiError {
	return notFoundOf(r.cname, r.uidStr, r.rid, r.sid, command)
}

// event queues one webhook event with the recording's next sequence
// number.
func (r *recorder) event(d webhook.Event) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	r.seq++
	r.svc.notify(d, webhook.Payload{Cname: r.cname, UID: r.uidStr, SID: r.sid, Sequence: r.seq})
}
