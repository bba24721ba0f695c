package api

import (
	"net/http"
	"time"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

type recordingRequest struct {
	Channel string `json:"channel"`
	UID     *UID   `json:"uid"`
	Key     string `json:"key"`
	Tag     string `json:"tag,omitempty"`
}

type startResponse struct {
	Channel   string    `json:"channel"`
	Recording bool      `json:"recording"`
	Started   bool      `json:"started"`
	StartedAt time.Time `json:"startedAt"`
	Directory string    `json:"directory"`
}

type stopResponse struct {
	Channel   string `json:"channel"`
	Recording bool   `json:"recording"`
	Stopped   bool   `json:"stopped"`
}

// maxTagLen bounds the user tag written into Metadata.txt.
const maxTagLen = 1024

// readRecordingRequest decodes and validates a start/stop body and checks
// its recording key.
func (s *Server) readRecordingRequest(w http.ResponseWriter, r *http.Request) (recordingRequest, *Error) {
	var req recordingRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return req, e
	}
	if err := storage.ValidateChannelName(req.Channel); err != nil {
		return req, apiError(http.StatusBadRequest, "invalid_channel", err.Error())
	}
	if req.UID == nil {
		return req, apiError(http.StatusBadRequest, "invalid_uid", errBadUID.Error())
	}
	if req.Key == "" {
		return req, apiError(http.StatusUnauthorized, "missing_key", "a recording key is required")
	}
	if len(req.Tag) > maxTagLen {
		return req, apiError(http.StatusBadRequest, "invalid_tag", "the tag is longer than 1024 bytes")
	}
	if e := s.CheckKey(r, func() error { return s.keys.VerifyRecording(req.Key, req.Channel, uint32(*req.UID)) }); e != nil {
		return req, e
	}
	return req, nil
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	req, e := s.readRecordingRequest(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	info, started, err := s.mgr.StartRecording(req.Channel, uint32(*req.UID), req.Tag)
	if err != nil {
		WriteError(w, SessionError(err))
		return
	}
	writeJSON(w, http.StatusOK, startResponse{
		Channel: req.Channel, Recording: true, Started: started, StartedAt: info.StartedAt, Directory: info.Directory,
	})
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	req, e := s.readRecordingRequest(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	stopped := s.mgr.StopRecording(req.Channel, session.StopRequested)
	writeJSON(w, http.StatusOK, stopResponse{Channel: req.Channel, Recording: false, Stopped: stopped})
}

type statusUser struct {
	UID    uint32    `json:"uid"`
	Since  time.Time `json:"since"`
	Source string    `json:"source"`
	File   string    `json:"file,omitempty"`
}

type statusResponse struct {
	Channel   string       `json:"channel"`
	Recording bool         `json:"recording"`
	StartedAt *time.Time   `json:"startedAt,omitempty"`
	Directory string       `json:"directory,omitempty"`
	Tag       string       `json:"tag,omitempty"`
	Error     string       `json:"errorStatus,omitempty"`
	Users     []statusUser `json:"users"`
}

// StatusBody renders a channel's status as the API answers it.
func StatusBody(st session.ChannelStatus) any {
	resp := statusResponse{Channel: st.Channel, Users: make([]statusUser, 0, len(st.Users))}
	if st.Recording != nil {
		resp.Recording = true
		t := st.Recording.StartedAt
		resp.StartedAt = &t
		resp.Directory = st.Recording.Directory
		resp.Tag = st.Recording.Tag
		resp.Error = st.Recording.Status
	}
	for _, u := range st.Users {
		resp.Users = append(resp.Users, statusUser{UID: u.UID, Since: u.Since, Source: u.Source, File: u.File})
	}
	return resp
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("channel")
	if err := storage.ValidateChannelName(name); err != nil {
		WriteError(w, apiError(http.StatusBadRequest, "invalid_channel", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, StatusBody(s.mgr.Status(name)))
}
