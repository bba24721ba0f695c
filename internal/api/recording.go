package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

type recordingRequest struct {
	Channel string `json:"channel"`
	UID     *UID   `json:"uid"`
	Key     string `json:"key"`
	Tag     string `json:"tag,omitempty"`
	// Mixed asks for a live composite of the channel beside the per-UID
	// captures (start only).
	Mixed       bool         `json:"mixed,omitempty"`
	MixedLayout *mixedLayout `json:"mixedLayout,omitempty"`
}

// mixedLayout is the composite's canvas; fields left out get 640x360,
// 15 fps, 500 kbit/s, black.
type mixedLayout struct {
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	FPS        int    `json:"fps"`
	Bitrate    int    `json:"bitrate"`
	Background string `json:"background"`
}

type startResponse struct {
	Channel   string    `json:"channel"`
	Recording bool      `json:"recording"`
	Started   bool      `json:"started"`
	StartedAt time.Time `json:"startedAt"`
	Directory string    `json:"directory"`
	MixedFile string    `json:"mixedFile,omitempty"`
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
	var mo arsmix.Options
	if req.Mixed {
		if s.mixes == nil {
			WriteError(w, apiError(http.StatusNotImplemented, "mixer_unavailable",
				"mixed recordings need the ars-mixer binary (ARS_MIXER_BIN), which this server does not have"))
			return
		}
		var e *Error
		if mo, e = mixOptions(req.MixedLayout); e != nil {
			WriteError(w, e)
			return
		}
	}
	info, started, err := s.mgr.StartRecording(req.Channel, uint32(*req.UID), req.Tag)
	if err != nil {
		WriteError(w, SessionError(err))
		return
	}
	resp := startResponse{Channel: req.Channel, Recording: true, Started: started, StartedAt: info.StartedAt, Directory: info.Directory}
	if req.Mixed {
		file, err := s.mixes.Start(req.Channel, info.Directory, info.StartedAt, mo)
		switch {
		case errors.Is(err, arsmix.ErrBusy):
		case err != nil:
			// The per-UID recording goes on without the composite.
			s.log.Error("live composite not started", "channel", req.Channel, "error", err)
			WriteError(w, apiError(http.StatusInternalServerError, "mixer_failed",
				"the recording runs, but its composite could not start: "+err.Error()))
			return
		default:
			resp.MixedFile = file
			s.persistMix(mixRecord{Channel: req.Channel, Dir: info.Directory, Options: mo})
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	req, e := s.readRecordingRequest(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	stopped := s.mgr.StopRecording(req.Channel, session.StopRequested)
	s.forgetMix(req.Channel)
	if s.mixes != nil {
		// The answer comes once the composite is finalised.
		s.mixes.Stop(req.Channel)
	}
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

// mixOptions validates a start request's mixedLayout.
func mixOptions(l *mixedLayout) (arsmix.Options, *Error) {
	o := arsmix.Options{Width: 640, Height: 360, FPS: 15, BitrateKbps: 500}
	if l == nil {
		return o, nil
	}
	if l.Width != 0 || l.Height != 0 {
		o.Width, o.Height = l.Width, l.Height
	}
	if l.FPS != 0 {
		o.FPS = l.FPS
	}
	if l.Bitrate != 0 {
		o.BitrateKbps = l.Bitrate
	}
	if l.Background != "" {
		v, err := layout.ParseColor(l.Background)
		if err != nil {
			return o, apiError(http.StatusBadRequest, "invalid_mixed_layout", "background must be #RRGGBB")
		}
		o.Background = v
	}
	v := mixproto.VideoConfig{Width: o.Width, Height: o.Height, FPS: o.FPS, BitrateKbps: o.BitrateKbps}
	c := mixproto.Config{Video: &v, Audio: mixproto.AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 64},
		OutDir: "/", MP4: &mixproto.MP4Output{Pattern: "x.mp4"}}
	if err := c.Validate(); err != nil {
		return o, apiError(http.StatusBadRequest, "invalid_mixed_layout", fmt.Sprint(err))
	}
	return o, nil
}
