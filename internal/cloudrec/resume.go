package cloudrec

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

// Resume after a restart. Load (before the uploader starts, so that the
// results of backups it restores find their recording) brings back the
// resources and recordings the store holds; Start then resumes each
// recording:
//   - individual mode: the same sid answers; each track continues its
//     playlist (internal/hls Config.Resume) with an EXT-X-DISCONTINUITY;
//   - mix mode: a new composite whose files carry Agora's "bak<n>_"
//     prefix, as Agora names the files of a recording moved to another
//     server;
//   - files of the work directory that uploadedLog does not list as
//     stored are queued again (a crash loses the uploader's queue; the
//     backups it had made survive in its own directory);
//   - event 12 session_failover tells the listener, with the downtime;
//   - a recording whose exit had begun (stop, idle) is finished.
// SIGTERM suspends recordings instead of ending them when a store is kept:
// tracks finished, playlists left open, the record kept (Close).

// uploadedLog, in a recording's work directory, lists one storage key per
// line for every file that reached its destination or the backup. Appended
// without fsync: a crash after the page cache has it loses nothing, and a
// line lost to power loss only means one upload is done twice.
const uploadedLog = ".uploaded"

// causeSuspend is the exit request of a graceful shutdown with a store.
const causeSuspend = "suspend"

// resumeInfo is how a resumed recorder came back.
type resumeInfo struct {
	graceful bool
	stopping string
	saved    time.Time
}

// Load reads the resources and recordings an earlier run left in the
// store. Records that no longer make a valid recording are dropped and
// logged.
func (s *Service) Load() error {
	if !s.durable {
		return nil
	}
	ress, bad, err := s.resTab.All()
	if err != nil {
		return fmt.Errorf("cloudrec: resume: %w", err)
	}
	for id, err := range bad {
		s.log.Warn("resource record dropped", "error", err)
		s.forgetResource(id)
	}
	recs, badRecs, err := s.sesTab.All()
	if err != nil {
		return fmt.Errorf("cloudrec: resume: %w", err)
	}
	for sid, err := range badRecs {
		s.log.Error("cloud recording record dropped: it cannot be read", "sid", sid, "error", err)
		s.dropRecord(sid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, rr := range ress {
		if !rr.Used && now.Sub(rr.Created) > s.cfg.ResourceTTL+time.Hour {
			s.forgetResource(id)
			continue
		}
		s.resources[id] = &resource{id: id, cname: rr.Cname, uid: rr.UID, created: rr.Created, used: rr.Used}
		if !rr.Used {
			s.unused++
		}
	}
	for sid, rec := range recs {
		r, err := s.restore(rec)
		if err != nil {
			s.log.Error("cloud recording not resumed", "sid", sid, "error", err)
			s.dropRecord(sid)
			s.resumeCount("failed")
			continue
		}
		s.sessions[sid] = r
		s.active[r.activeKey()] = sid
		s.perChannel[r.cname]++
		if r.settings.mix != nil {
			s.mixes++
		}
		s.toResume = append(s.toResume, r)
	}
	s.gaugesLocked()
	return nil
}

func (s *Service) dropRecord(sid string) {
	if err := s.sesTab.Delete(sid); err != nil {
		s.log.Warn("record not dropped", "sid", sid, "error", err)
	}
}

func (s *Service) resumeCount(outcome string) {
	if s.m != nil {
		s.m.CloudResumed.WithLabelValues(outcome).Inc()
	}
}

// restore makes the recorder of a record, not yet running.
func (s *Service) restore(rec sessionRecord) (*recorder, error) {
	uid, e := checkUID(rec.UID)
	if e != nil {
		return nil, e
	}
	if rec.SID == "" || !plainSID(rec.SID) {
		return nil, errors.New("bad sid")
	}
	// A record without a format is from a release that wrote only fMP4.
	settings, e := s.checkStartFormat(&rec.Request, rec.Mode, rec.Format != formatTS)
	if e != nil {
		return nil, fmt.Errorf("the start request is no longer valid: %w", e)
	}
	settings.subs = subscription{audio: rec.Audio.filter(), video: rec.Video.filter()}
	if rec.Layout != nil && settings.mix != nil {
		w, h := 0, 0
		if c := settings.mix.canvas; c != nil {
			w, h = c.Width, c.Height
		}
		cfg, e := checkLayout("clientRequest.", rec.Layout, w, h)
		if e != nil {
			return nil, fmt.Errorf("the updated layout is no longer valid: %w", e)
		}
		settings.mix.layout = cfg
	}
	r := newRecorder(s, rec.RID, rec.SID, rec.Cname, rec.UID, uid, settings)
	r.restoreState(rec)
	r.resumed = &resumeInfo{graceful: rec.Suspended, stopping: rec.Stopping, saved: rec.Saved}
	return r, nil
}

// plainSID reports whether sid can name a work directory.
func plainSID(sid string) bool {
	for _, c := range sid {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return len(sid) <= 64
}

// resumeAll starts every loaded recorder (Start).
func (s *Service) resumeAll() {
	s.mu.Lock()
	list := s.toResume
	s.toResume = nil
	s.mu.Unlock()
	for _, r := range list {
		if err := r.resume(); err != nil {
			s.log.Error("cloud recording not resumed", "sid", r.sid, "error", err)
			s.resumeCount("failed")
			continue
		}
		if r.resumed.stopping != "" {
			s.resumeCount("finished")
		} else {
			s.resumeCount("resumed")
		}
	}
}

// resume carries a loaded recorder on: uploads queued again, the worker
// and the sink started, event 12 sent.
func (r *recorder) resume() error {
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if r.settings.mix != nil {
		r.endMixPlaylists()
	}
	r.requeue()
	if stopping := r.resumed.stopping; stopping != "" {
		// The recording was ending: finish it (tracks, uploads, events).
		r.closeLeftovers = true
		go r.run()
		r.requestExit(stopping)
		return nil
	}
	if r.settings.mix != nil {
		if err := r.startMix(); err != nil {
			r.fail(err)
			return err
		}
	}
	r.closeLeftovers = true
	go r.run()
	remove, err := r.svc.channels.AddSink(r.cname, r)
	if err != nil {
		r.requestExit("failed")
		return err
	}
	r.mu.Lock()
	r.removeSink = remove
	r.mu.Unlock()
	reason := "crash"
	if r.resumed.graceful {
		reason = "restart"
	}
	down := r.svc.now().Sub(r.resumed.saved)
	// Agora's newUid is the uid the recorder came back as: the same one.
	// reason, failovers and sinceSavedMs (how long before the restart
	// the state was last saved) are ars extensions.
	r.event(webhook.SessionFailover{NewUID: r.uid, Reason: reason, Failovers: r.failovers, SinceSavedMs: down.Milliseconds()})
	r.saveOrCount()
	r.svc.log.Info("cloud recording resumed", "sid", r.sid, "cname", r.cname, "uid", r.uidStr, "after", reason,
		"since_saved", down.Round(time.Millisecond))
	return nil
}

// fail ends a recorder that could not be resumed: its record goes, its
// files stay for the operator.
func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.status = statusExited
	r.mu.Unlock()
	close(r.closedOut)
	r.forgetRecord()
	r.svc.forget(r, nil)
	close(r.finished)
}

// requeue submits again the files of the work directory that are not
// known to be stored; playlists always (their newest version counts).
func (r *recorder) requeue() {
	done := map[string]bool{}
	if f, err := os.Open(filepath.Join(r.dir, uploadedLog)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			done[sc.Text()] = true
		}
		_ = f.Close()
	}
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.svc.log.Warn("work dir not read", "sid", r.sid, "error", err)
		return
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".part") {
			continue
		}
		key := r.key(name)
		if done[key] && !strings.HasSuffix(name, ".m3u8") {
			continue
		}
		k, _ := r.trackOf(name)
		r.mu.Lock()
		r.owner[key] = k
		r.mu.Unlock()
		queued, err := r.svc.uploader.Submit(objstore.Job{Session: r.sid, Dest: r.settings.dest, Key: key, File: filepath.Join(r.dir, name)})
		r.mu.Lock()
		if err != nil {
			r.lost[key] = k
		} else if queued {
			r.pending++
			r.total++
			n++
		}
		r.mu.Unlock()
		if err != nil {
			r.reportLost(key, err)
		}
	}
	if n > 0 {
		r.svc.log.Info("uploads queued again after a restart", "sid", r.sid, "files", n)
	}
}

// trackOf is the track a work-directory file belongs to, from its name.
func (r *recorder) trackOf(name string) (trackKey, bool) {
	if r.settings.mix != nil {
		return trackKey{kind: trackMixed}, true
	}
	rest, ok := strings.CutPrefix(name, r.sid+"_"+r.cname+"__uid_s_")
	if !ok {
		return trackKey{}, false
	}
	uidStr, rest, ok := strings.Cut(rest, "__uid_e_")
	if !ok {
		return trackKey{}, false
	}
	uid, err := strconv.ParseUint(uidStr, 10, 32)
	if err != nil {
		return trackKey{}, false
	}
	for _, kind := range []string{storage.KindAudio, storage.KindVideo} {
		if strings.HasPrefix(rest, kind) {
			return trackKey{uid: uint32(uid), kind: kind}, true
		}
	}
	return trackKey{}, false
}

// markStored appends a stored file's key to uploadedLog.
func (r *recorder) markStored(key string) {
	f, err := os.OpenFile(filepath.Join(r.dir, uploadedLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // the work dir is gone: the recording ended
			r.svc.log.Warn("upload log not written", "sid", r.sid, "error", err)
		}
		return
	}
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.svc.log.Warn("upload log not written", "sid", r.sid, "error", err)
	}
}

// finishLeftovers closes the playlists an earlier run left that no track
// of this run took over (a participant who never came back), so that they
// end and their MP4 is made (worker, at exit).
func (r *recorder) finishLeftovers() {
	if !r.closeLeftovers || r.settings.mix != nil {
		return
	}
	taken := map[string]bool{}
	for _, ts := range r.tracks {
		if ts.t != nil {
			taken[ts.t.Playlist()] = true
		}
	}
	lists, _ := filepath.Glob(filepath.Join(r.dir, "*.m3u8"))
	for _, pl := range lists {
		name := filepath.Base(pl)
		k, ok := r.trackOf(name)
		if !ok || taken[name] {
			continue
		}
		// The earlier run may have recorded any codec; ending the
		// playlist needs none.
		err := hls.EndPlaylist(hls.Config{Dir: r.dir, Name: strings.TrimSuffix(name, ".m3u8"),
			MP4: r.settings.mp4, Log: r.svc.log, OnFile: func(f hls.File) { r.onFile(k, f) }})
		if err != nil && !errors.Is(err, hls.ErrNoMedia) {
			r.svc.log.Error("playlist of an earlier run not ended", "sid", r.sid, "playlist", name, "error", err)
		}
	}
}

// endMixPlaylists ends the playlists of earlier composites that a crash
// left open: the composite that follows writes a playlist of its own.
func (r *recorder) endMixPlaylists() {
	lists, _ := filepath.Glob(filepath.Join(r.dir, "*.m3u8"))
	for _, pl := range lists {
		b, err := os.ReadFile(pl)
		if err != nil || strings.Contains(string(b), "#EXT-X-ENDLIST") {
			continue
		}
		f, err := os.OpenFile(pl, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.WriteString("#EXT-X-ENDLIST\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			r.svc.log.Error("playlist of an earlier composite not ended", "sid", r.sid, "playlist", filepath.Base(pl), "error", err)
		}
	}
}

// suspend ends the recorder for a graceful restart: tracks finished with
// their playlists left open, the record kept with Suspended set; no
// session_exit (worker).
func (r *recorder) suspend() {
	r.mu.Lock()
	remove := r.removeSink
	r.mu.Unlock()
	if remove != nil {
		remove()
	}
	if r.mix != nil {
		r.closeMix()
	}
	r.closeSnaps()
	// The audio received so far is encoded and written before the tracks
	// stop: the next run continues after it.
	r.closeAAC()
	for _, ts := range r.tracks {
		if ts.t == nil {
			continue
		}
		if err := ts.t.Suspend(); err != nil {
			r.svc.log.Error("track suspend", "sid", r.sid, "track", ts.t.Name(), "error", err)
		}
	}
	r.mu.Lock()
	r.status = statusStopped
	r.mu.Unlock()
	close(r.closedOut)
	if r.svc.durable {
		rec := r.record()
		rec.Suspended = true
		if err := r.svc.sesTab.Put(r.sid, rec); err != nil {
			r.svc.log.Error("suspended cloud recording not saved: it will not resume", "sid", r.sid, "error", err)
		}
	}
	r.svc.log.Info("cloud recording suspended for a restart", "sid", r.sid)
	close(r.finished)
}
