package cloudrec

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/session"
)

// Recording modes of the request path.
const (
	modeIndividual = "individual"
	modeMix        = "mix"
)

func checkMode(r *http.Request) *apiError {
	switch m := r.PathValue("mode"); m {
	case modeIndividual, modeMix:
		return nil
	case "web":
		return invalid("mode web is not supported by ars yet; use individual or mix mode")
	default:
		return invalid("mode must be individual, mix or web")
	}
}

func (s *Service) handleAcquire(r *http.Request) (int, any, *apiError) {
	var req acquireRequest
	if e := decode(r, &req); e != nil {
		return 0, nil, e
	}
	if e := checkCname(req.Cname); e != nil {
		return 0, nil, e
	}
	if _, e := checkUID(req.UID); e != nil {
		return 0, nil, e
	}
	if cr := req.ClientRequest; cr != nil {
		if h := cr.ResourceExpiredHour; h != nil && (*h < 1 || *h > 720) {
			return 0, nil, invalid("clientRequest.resourceExpiredHour must be 1 to 720")
		}
		if sc := cr.Scene; sc != nil && (*sc < 0 || *sc > 2) {
			return 0, nil, invalid("clientRequest.scene must be 0, 1 or 2")
		}
	}
	res := &resource{id: newResourceID(), cname: req.Cname, uid: req.UID, created: s.now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, nil, exiting()
	}
	if s.unused >= s.cfg.MaxResources {
		s.sweepExpiredLocked(res.created)
	}
	if s.unused >= s.cfg.MaxResources {
		s.mu.Unlock()
		s.refused(limitResources)
		return 0, nil, tooMany(fmt.Sprintf("too many resources acquired and not started (at most %d, ARS_CLOUD_MAX_RESOURCES); start them or wait for them to expire", s.cfg.MaxResources))
	}
	s.resources[res.id] = res
	s.unused++
	s.gaugesLocked()
	s.mu.Unlock()
	if err := s.saveResource(res); err != nil {
		s.mu.Lock()
		s.dropResourceLocked(res.id, res)
		s.mu.Unlock()
		return 0, nil, s.stateError(err)
	}
	return http.StatusOK, acquireResponse{Cname: req.Cname, UID: req.UID, ResourceID: res.id}, nil
}

func (s *Service) handleStart(r *http.Request) (int, any, *apiError) {
	if e := checkMode(r); e != nil {
		return 0, nil, e
	}
	var req startRequest
	if e := decode(r, &req); e != nil {
		return 0, nil, e
	}
	if e := checkCname(req.Cname); e != nil {
		return 0, nil, e
	}
	uid, e := checkUID(req.UID)
	if e != nil {
		return 0, nil, e
	}
	settings, e := s.checkStart(&req, r.PathValue("mode"))
	if e != nil {
		return 0, nil, e
	}
	if settings.mix != nil {
		if _, err := mixrun.FindBinary(s.cfg.MixerBin); err != nil {
			return 0, nil, &apiError{status: http.StatusServiceUnavailable, code: codeNotEnabled,
				reason: "mix mode needs the ars-mixer, which this server does not have (ARS_MIXER_BIN): " + err.Error()}
		}
	}
	if e := s.checkEndpoint(r.Context(), settings.dest); e != nil {
		return 0, nil, e
	}
	rid, active := r.PathValue("rid"), activeKey(req.Cname, req.UID)
	if !validResourceID(rid) {
		return 0, nil, badResourceID()
	}
	s.mu.Lock()
	res := s.resources[rid]
	switch {
	case res == nil:
		s.mu.Unlock()
		return 0, nil, invalid("invalid resourceId")
	case res.cname != req.Cname || res.uid != req.UID:
		s.mu.Unlock()
		return 0, nil, mismatch("cname and uid must be those the resourceId was acquired for")
	case res.used:
		running := s.byResourceLocked(rid)
		s.mu.Unlock()
		if running != nil {
			running.statusUpdate()
		}
		return 0, nil, &apiError{status: http.StatusCreated, code: codeResourceReused, reason: "the resourceId was already used to start a recording"}
	case s.now().Sub(res.created) > s.cfg.ResourceTTL:
		s.mu.Unlock()
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeResourceExpiry, reason: "the resourceId has expired; acquire a new one"}
	case s.active[active] != "":
		s.mu.Unlock()
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeDuplicate, reason: "a recording with this cname and uid is already running"}
	}
	if e := s.capLocked(req.Cname, settings.mix != nil); e != nil {
		s.mu.Unlock()
		return 0, nil, e
	}
	s.mu.Unlock()

	var verr error // the verifier's answer: expired or invalid
	if ke := s.guard.CheckKey(r, func() error {
		verr = s.keys.VerifyMedia(req.ClientRequest.Token, req.Cname, uid)
		return verr
	}); ke != nil {
		if ke.Status == http.StatusTooManyRequests {
			return 0, nil, &apiError{status: http.StatusTooManyRequests, code: 1, reason: "too many failed token checks; retry later"}
		}
		code := codeTokenInvalid
		if errors.Is(verr, rdk.ErrExpired) {
			code = codeTokenExpired
		}
		return 0, nil, &apiError{status: http.StatusUnauthorized, code: code, reason: "token refused: " + ke.Message}
	}

	s.mu.Lock()
	// Checked again: another start may have won the race meanwhile.
	if res.used {
		s.mu.Unlock()
		return 0, nil, &apiError{status: http.StatusCreated, code: codeResourceReused, reason: "the resourceId was already used to start a recording"}
	}
	if s.active[active] != "" {
		s.mu.Unlock()
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeDuplicate, reason: "a recording with this cname and uid is already running"}
	}
	if s.closed {
		s.mu.Unlock()
		return 0, nil, exiting()
	}
	// Checked again: the caps may have filled during the token check.
	if e := s.capLocked(req.Cname, settings.mix != nil); e != nil {
		s.mu.Unlock()
		return 0, nil, e
	}
	res.used = true
	s.unused--
	rec := newRecorder(s, rid, newSID(), req.Cname, req.UID, uid, settings)
	rec.mode, rec.request = r.PathValue("mode"), req
	s.sessions[rec.sid] = rec
	s.active[active] = rec.sid
	s.perChannel[req.Cname]++
	if settings.mix != nil {
		s.mixes++
	}
	s.gaugesLocked()
	s.mu.Unlock()
	// Saved before it starts: a recording that runs is one a restart
	// brings back.
	err := s.saveResource(res)
	if err == nil {
		err = rec.save()
	}
	if err != nil {
		rec.forgetRecord()
		s.forget(rec, nil)
		return 0, nil, s.stateError(err)
	}
	if err := rec.start(); err != nil {
		rec.forgetRecord()
		s.forget(rec, nil)
		if errors.Is(err, session.ErrTooManyChannels) {
			// The server holds ARS_MAX_CHANNELS channels: a cap, like
			// the cloud recording caps, not a bad request.
			return 0, nil, tooMany("cannot start the recorder: " + err.Error() + " (ARS_MAX_CHANNELS)")
		}
		s.log.Error("recorder failed to start", "sid", rec.sid, "error", err)
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeInvalidParam, reason: "cannot start the recorder: " + err.Error()}
	}
	return http.StatusOK, startResponse{Cname: req.Cname, UID: req.UID, ResourceID: rid, SID: rec.sid}, nil
}

// lookup finds the running recorder of a request's path; command (query,
// update, updateLayout, stop) names the call in a 404's body.
func (s *Service) lookup(r *http.Request, command string) (*recorder, *endedSession, *apiError) {
	if e := checkMode(r); e != nil {
		return nil, nil, e
	}
	rid, sid := r.PathValue("rid"), r.PathValue("sid")
	if !validResourceID(rid) {
		return nil, nil, badResourceID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.sessions[sid]
	ended := s.ended[sid]
	switch {
	case rec != nil && rec.rid != rid, rec == nil && ended != nil && ended.rid != "" && ended.rid != rid:
		return nil, nil, &apiError{status: http.StatusBadRequest, code: codeSIDMismatch,
			reason: "the sid does not belong to this resourceId"}
	case ended != nil && (rec == nil || ended.replay != nil || ended.final != nil):
		return nil, ended, notFoundOf(ended.cname, ended.uid, rid, sid, command)
	case rec == nil:
		return nil, nil, notFoundOf("", "", rid, sid, command)
	}
	if mix := r.PathValue("mode") == modeMix; mix != (rec.settings.mix != nil) {
		mode := modeIndividual
		if rec.settings.mix != nil {
			mode = modeMix
		}
		return nil, nil, mismatch("the recording runs in mode " + mode + "; use that mode in the request path")
	}
	return rec, nil, nil
}

func (s *Service) handleQuery(r *http.Request) (int, any, *apiError) {
	rec, _, e := s.lookup(r, "query")
	if e != nil {
		return 0, nil, e
	}
	status, files := rec.snapshot()
	if status != statusRunning && status != statusAbnormal {
		return 0, nil, rec.notFound("query")
	}
	return http.StatusOK, queryResponse{Cname: rec.cname, UID: rec.uidStr, ResourceID: rec.rid, SID: rec.sid,
		ServerResponse: queryServerResponse{Status: status, FileListMode: files.mode(), FileList: files,
			SliceStartTime: rec.started.UnixMilli()}}, nil
}

func (s *Service) handleUpdate(r *http.Request) (int, any, *apiError) {
	rec, _, e := s.lookup(r, "update")
	if e != nil {
		return 0, nil, e
	}
	var req updateRequest
	if e := decode(r, &req); e != nil {
		return 0, nil, e
	}
	if req.Cname != rec.cname || req.UID != rec.uidStr {
		return 0, nil, mismatch("cname and uid must be those of the recording")
	}
	if req.ClientRequest == nil || req.ClientRequest.StreamSubscribe == nil {
		return 0, nil, invalid("clientRequest.streamSubscribe is required")
	}
	ss := req.ClientRequest.StreamSubscribe
	var upd subscriptionUpdate
	if a := ss.AudioUIDList; a != nil {
		f, e := parseFilter("Audio", a.SubscribeAudioUIDs, a.UnsubscribeAudioUIDs)
		if e != nil {
			return 0, nil, e
		}
		upd.audio = &f
	}
	if v := ss.VideoUIDList; v != nil {
		f, e := parseFilter("Video", v.SubscribeVideoUIDs, v.UnsubscribeVideoUIDs)
		if e != nil {
			return 0, nil, e
		}
		upd.video = &f
	}
	rec.mu.Lock()
	if upd.audio != nil {
		rec.savedSubs.audio = *upd.audio
	}
	if upd.video != nil {
		rec.savedSubs.video = *upd.video
	}
	rec.mu.Unlock()
	if err := rec.save(); err != nil {
		return 0, nil, s.stateError(err)
	}
	if !rec.update(upd) {
		return 0, nil, rec.notFound("update")
	}
	return http.StatusOK, startResponse{Cname: rec.cname, UID: rec.uidStr, ResourceID: rec.rid, SID: rec.sid}, nil
}

func (s *Service) handleUpdateLayout(r *http.Request) (int, any, *apiError) {
	rec, _, e := s.lookup(r, "updateLayout")
	if e != nil {
		return 0, nil, e
	}
	if rec.settings.mix == nil {
		return 0, nil, invalid("updateLayout applies to mix mode only")
	}
	var req updateLayoutRequest
	if e := decode(r, &req); e != nil {
		e.code = codeBadLayout
		return 0, nil, e
	}
	if req.Cname != rec.cname || req.UID != rec.uidStr {
		return 0, nil, mismatch("cname and uid must be those of the recording")
	}
	if req.ClientRequest == nil {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeBadLayout, reason: "clientRequest is required"}
	}
	c := rec.settings.mix.canvas
	w, h := 0, 0
	if c != nil {
		w, h = c.Width, c.Height
	}
	cfg, e := checkLayout("clientRequest.", req.ClientRequest, w, h)
	if e != nil {
		e.code = codeBadLayout
		return 0, nil, e
	}
	rec.mu.Lock()
	rec.savedLayout = req.ClientRequest
	rec.mu.Unlock()
	if err := rec.save(); err != nil {
		return 0, nil, s.stateError(err)
	}
	if !rec.updateLayout(cfg) {
		return 0, nil, rec.notFound("updateLayout")
	}
	return http.StatusOK, startResponse{Cname: rec.cname, UID: rec.uidStr, ResourceID: rec.rid, SID: rec.sid}, nil
}

func (s *Service) handleStop(r *http.Request) (int, any, *apiError) {
	rec, ended, e := s.lookup(r, "stop")
	if e != nil {
		if ended == nil {
			return 0, nil, e
		}
		return s.stopEnded(r.PathValue("sid"), ended, e)
	}
	var req stopRequest
	if e := decode(r, &req); e != nil {
		return 0, nil, e
	}
	if req.Cname != rec.cname || req.UID != rec.uidStr {
		return 0, nil, mismatch("cname and uid must be those of the recording")
	}
	if !rec.claimStop() {
		// Another stop ended it, or is ending it and will answer.
		rec.statusUpdate()
		return 0, nil, repeatedStop()
	}
	async := req.ClientRequest != nil && req.ClientRequest.AsyncStop
	resp, ok := rec.stop(async)
	if !ok {
		return 0, nil, rec.notFound("stop")
	}
	switch resp.Code {
	case codeNoFile, codeNotCompleted:
		return http.StatusPartialContent, resp, nil
	}
	return http.StatusOK, resp, nil
}

// stopEnded answers a stop of an ended recording: the 206 of a stop that
// found nothing recorded again, the final answer a stop that got 65 was
// told to come back for (once), 49 after another stop, or the 404 e.
func (s *Service) stopEnded(sid string, ended *endedSession, e *apiError) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case ended.replay != nil:
		return http.StatusPartialContent, ended.replay, nil
	case ended.final != nil:
		final := ended.final
		ended.final = nil
		return http.StatusOK, final, nil
	case ended.byStop:
		return 0, nil, repeatedStop()
	}
	return 0, nil, e
}

func repeatedStop() *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeRepeatedStop,
		reason: "the recording was already stopped by an earlier stop request"}
}

func badResourceID() *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadResourceID,
		reason: "cannot parse the resourceId; call acquire for a new one"}
}
