package cloudrec

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/webhook"
)

// Upload bookkeeping: every finished file is submitted to the uploader,
// its outcome counted when it comes back (UploadResult), and the file
// list, the upload state and the lost files are what query and stop
// answer. The counters and the file list that a restart needs are part of
// sessionState (record.go); the rest is uploadBook.

// Upload states of the stop answer.
const (
	uploadUploaded = "uploaded"
	uploadBackuped = "backuped"
	// uploadUnknown is answered while uploads run and when a file was
	// lost: neither "uploaded" nor "backuped" would be true.
	uploadUnknown = "unknown"
)

// uploadBook is the bookkeeping a restart does not keep, under
// recorder.mu (cond signals each settled upload).
type uploadBook struct {
	status    int
	pending   int
	exitCause string
	// failingTracks counts tracks that cannot write: query answers
	// statusAbnormal meanwhile.
	failingTracks int
	// owner maps every file's storage key to its track; lost holds the
	// keys of files that never reached storage.
	owner map[string]trackKey
	lost  map[string]trackKey
	// stopClaimed: a stop request took this recording; stopPending: it
	// was answered 65 (uploads still running) and may come back.
	stopClaimed, stopPending bool
	// announced holds the playlists event 4 was sent for: Agora sends
	// it once per playlist, when it is first written.
	announced map[string]bool
}

func newUploadBook() uploadBook {
	return uploadBook{status: statusRunning, owner: map[string]trackKey{}, lost: map[string]trackKey{}, announced: map[string]bool{}}
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
		streams := []webhook.SliceStream{{StreamUID: strconv.FormatUint(uint64(k.uid), 10), TrackType: k.kind, StartUtcMs: ms}}
		if r.mix != nil {
			streams = []webhook.SliceStream{}
		}
		r.event(webhook.RecorderSliceStart{StartUtcMs: ms, DiscontinueUtcMs: ms, MixedAllUser: r.mix != nil, Streams: streams})
	}
	if f.Kind == hls.FileSegment {
		r.segmentWritten(k, f)
	}
	if f.Kind == hls.FilePlaylist {
		if ts := r.tracks[k]; ts != nil && !ts.playlist {
			// The uid's master playlist names this one from now on.
			ts.playlist = true
			defer r.writeAV(k.uid)
		}
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
	r.snapUploaded(res)
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
	// Event 4 the first time a playlist reaches storage (or the backup,
	// from which it is uploaded later), once per playlist.
	first := false
	if res.Outcome == objstore.Uploaded || res.Outcome == objstore.Backuped || res.Outcome == objstore.Restored {
		if strings.HasSuffix(res.Job.Key, ".m3u8") && !r.announced[res.Job.Key] {
			r.announced[res.Job.Key], first = true, true
		}
	}
	// Sent before the waiters wake: exit's last events come after these.
	// (r.event takes no r.mu.)
	if first {
		r.event(webhook.FileInfos{FileList: res.Job.Key})
	}
	switch res.Outcome {
	case objstore.Backuped:
		r.event(webhook.RecordingWarning{Module: errModuleUploader, WarnCode: webhook.WarnReuploadBackup, FileName: res.Job.Key})
	case objstore.Restored:
		r.event(webhook.RecordingWarning{Module: errModuleUploader, WarnCode: webhook.WarnReupload, FileName: res.Job.Key})
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
	r.event(webhook.UploadingProgress{Progress: p})
}

// waitUploads waits until every queued upload is settled.
func (r *recorder) waitUploads() {
	r.mu.Lock()
	for r.pending > 0 {
		r.cond.Wait()
	}
	r.mu.Unlock()
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
	if r.settings.snap != nil && r.settings.snap.only {
		return fileList{none: true}
	}
	if r.settings.mix != nil && !r.settings.mp4 {
		fl := fileList{isName: true}
		if len(r.files) > 0 {
			fl.name = r.files[0].FileName
		}
		return fl
	}
	return fileList{entries: append([]fileInfo{}, r.files...)}
}

// lostListLocked is the stop answer's list of lost files, r.mu held.
func (r *recorder) lostListLocked() []lostFile {
	var out []lostFile
	for key, o := range r.lost {
		lf := lostFile{FileName: key, TrackType: o.kind}
		if o.kind != "" {
			lf.UID = strconv.FormatUint(uint64(o.uid), 10)
		}
		out = append(out, lf)
	}
	slices.SortFunc(out, func(a, b lostFile) int { return strings.Compare(a.FileName, b.FileName) })
	return out
}

// webhookFiles is a file list as event 4 sends it: [] when empty.
func webhookFiles(files []fileInfo) []fileInfo {
	if files == nil {
		return []fileInfo{}
	}
	return files
}

// uploadStateLocked is the stop answer's uploadingStatus, r.mu held.
func (r *recorder) uploadStateLocked() string {
	switch {
	case r.pending > 0, len(r.lost) > 0:
		return uploadUnknown
	case r.backuped:
		return uploadBackuped
	}
	return uploadUploaded
}

// claimStop takes the recording for a stop request: false if an earlier
// stop has it (and was not told to come back with a 65).
func (r *recorder) claimStop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopClaimed && !r.stopPending {
		return false
	}
	r.stopClaimed = true
	return true
}

// stop ends the recording and answers as Agora does: the file list and
// the upload state, 435 when nothing was recorded, or 65 when a
// synchronous stop's uploads run on past StopWait (the caller repeats the
// stop for the final answer). The caller holds claimStop.
func (r *recorder) stop(async bool) (*stopResponse, bool) {
	r.mu.Lock()
	again := r.stopPending
	r.mu.Unlock()
	if !again {
		select {
		case <-r.closedOut:
			// Already stopped (by idleness or a failure).
			return nil, false
		default:
		}
		r.requestExit("stop")
	}
	<-r.closedOut
	finished := false
	if !async {
		t := time.NewTimer(r.svc.cfg.StopWait)
		select {
		case <-r.finished:
			finished = true
		case <-t.C:
		}
		t.Stop()
	}
	r.mu.Lock()
	resp := r.stopAnswerLocked()
	nfiles, pending := len(r.files)+r.snapFilesLocked(), r.pending > 0
	late := !async && !finished && pending && nfiles > 0
	r.stopPending = late
	r.mu.Unlock()
	switch {
	case nfiles == 0:
		resp.Code, resp.Reason = codeNoFile, "no recorded files were generated"
		resp.ServerResponse.UploadingStatus = uploadUnknown
		r.svc.setReplay(r, resp)
	case late:
		resp.Code, resp.Reason = codeNotCompleted, "request not completed: the recording stopped but its uploads are still running; repeat the stop with the same resourceId and sid for the final answer"
	case again && finished:
		// This answer is the final one that the ended session kept.
		r.svc.takeFinal(r.sid)
	}
	return resp, true
}

// stopAnswerLocked is the stop answer as things stand, r.mu held.
func (r *recorder) stopAnswerLocked() *stopResponse {
	resp := &stopResponse{Cname: r.cname, UID: r.uidStr, ResourceID: r.rid, SID: r.sid,
		ServerResponse: stopServerResponse{FileList: r.fileListLocked(),
			UploadingStatus: r.uploadStateLocked(), LostFiles: r.lostListLocked()}}
	resp.ServerResponse.FileListMode = resp.ServerResponse.FileList.mode()
	return resp
}
