package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// maxStreams bounds the streams one plain-RTP participant may declare.
const maxStreams = 4

type streamRequest struct {
	SSRC        *uint32 `json:"ssrc"`
	PayloadType *uint8  `json:"payloadType"`
	Codec       string  `json:"codec"`
	ClockRate   uint32  `json:"clockRate"`
	Channels    uint16  `json:"channels,omitempty"`
	Fmtp        string  `json:"fmtp,omitempty"`
	// Extensions are the RTP header extensions the sender uses (SDP
	// a=extmap): ars reads the camera orientation one,
	// urn:3gpp:video-orientation, and keeps the rest in the capture.
	Extensions []storage.HeaderExtension `json:"extensions,omitempty"`
}

// maxExtensions bounds the header extensions one stream may declare.
const maxExtensions = 16

type joinRequest struct {
	Channel string          `json:"channel"`
	UID     *UID            `json:"uid"`
	Key     string          `json:"key"`
	Streams []streamRequest `json:"streams"`
	// Source is the IP address the participant's media will come from,
	// or "any"; empty binds to the caller's address unless that is
	// loopback (see sourceBinding).
	Source string `json:"source,omitempty"`
}

// sourceAny in a join's "source" leaves the streams to their first sender.
const sourceAny = "any"

// ClientAddr is the address that made the call: the per-address join cap
// counts it, and by default plain-RTP media must come from it.
func ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// sourceBinding decides which IP the streams are bound to: the named
// source; else the caller's address unless it is loopback (a sender on
// the server's own host, a test, a local proxy), where the first packet's
// source is taken. The zero Addr means unbound.
func sourceBinding(source string, client netip.Addr) (netip.Addr, error) {
	switch source {
	case sourceAny:
		return netip.Addr{}, nil
	case "":
		if client.IsValid() && !client.IsLoopback() {
			return client, nil
		}
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(source)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("source %q is not an IP address (or %q)", source, sourceAny)
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("source %s cannot send RTP", ip)
	}
	return ip, nil
}

type joinResponse struct {
	ID string `json:"id"`
	// RTPHost is this node's ARS_NODE_ADDRESS: where to send, on a
	// single node as in a cluster.
	RTPHost string `json:"rtpHost"`
	RTPPort int    `json:"rtpPort"`
	// Source is the IP the streams are bound to; absent when the first
	// sender is taken.
	Source string `json:"source,omitempty"`
}

// streamInfo validates one declared stream.
func (sr streamRequest) streamInfo() (storage.StreamInfo, error) {
	if sr.SSRC == nil {
		return storage.StreamInfo{}, fmt.Errorf("every stream needs an ssrc")
	}
	if sr.PayloadType == nil || *sr.PayloadType > 127 {
		return storage.StreamInfo{}, fmt.Errorf("payloadType must be 0..127")
	}
	if len(sr.Fmtp) > 1024 {
		return storage.StreamInfo{}, fmt.Errorf("fmtp is longer than 1024 bytes")
	}
	info := storage.StreamInfo{SSRC: *sr.SSRC, PayloadType: *sr.PayloadType, ClockRate: sr.ClockRate, Fmtp: sr.Fmtp}
	if err := validExtensions(sr.Extensions); err != nil {
		return info, err
	}
	info.Extensions = sr.Extensions
	if c := vcodec.FromName(sr.Codec); c != vcodec.Unknown {
		info.Codec, info.Kind = c.Name(), storage.KindVideo
		if info.ClockRate == 0 {
			info.ClockRate = vcodec.ClockRate
		}
		if info.ClockRate != vcodec.ClockRate {
			return info, fmt.Errorf("%s clockRate must be %d", c.Name(), vcodec.ClockRate)
		}
		return info, nil
	}
	switch strings.ToLower(sr.Codec) {
	case "opus":
		info.Codec, info.Kind = storage.CodecOpus, storage.KindAudio
		if info.ClockRate == 0 {
			info.ClockRate = 48000
		}
		if info.ClockRate != 48000 {
			return info, fmt.Errorf("opus clockRate must be 48000")
		}
		info.Channels = sr.Channels
		if info.Channels == 0 {
			info.Channels = 2
		}
		if info.Channels > 2 {
			return info, fmt.Errorf("opus channels must be 1 or 2")
		}
	default:
		return info, fmt.Errorf("codec %q is not recorded: use H264, VP8, VP9, AV1 or opus", sr.Codec)
	}
	return info, nil
}

// validExtensions checks declared header extensions: IDs 1-255 (RFC
// 8285: 1-14 in the one-byte form, up to 255 in the two-byte one), each
// once, and a URI that fits in a capture header.
func validExtensions(exts []storage.HeaderExtension) error {
	if len(exts) > maxExtensions {
		return fmt.Errorf("declare at most %d extensions per stream", maxExtensions)
	}
	var seen [256]bool
	for _, e := range exts {
		if e.ID == 0 {
			return fmt.Errorf("extension id must be 1..255")
		}
		if seen[e.ID] {
			return fmt.Errorf("extension id %d is declared twice", e.ID)
		}
		seen[e.ID] = true
		if e.URI == "" || len(e.URI) > 256 {
			return fmt.Errorf("extension %d needs a uri of at most 256 bytes", e.ID)
		}
	}
	return nil
}

func (s *Server) handleRTPJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if e := decodeJSON(w, r, &req); e != nil {
		WriteError(w, e)
		return
	}
	if err := storage.ValidateChannelName(req.Channel); err != nil {
		WriteError(w, apiError(http.StatusBadRequest, "invalid_channel", err.Error()))
		return
	}
	if req.UID == nil {
		WriteError(w, apiError(http.StatusBadRequest, "invalid_uid", errBadUID.Error()))
		return
	}
	if len(req.Streams) == 0 || len(req.Streams) > maxStreams {
		WriteError(w, apiError(http.StatusBadRequest, "invalid_streams", fmt.Sprintf("declare 1 to %d streams", maxStreams)))
		return
	}
	streams := make([]storage.StreamInfo, 0, len(req.Streams))
	for _, sr := range req.Streams {
		info, err := sr.streamInfo()
		if err != nil {
			WriteError(w, apiError(http.StatusBadRequest, "invalid_streams", err.Error()))
			return
		}
		streams = append(streams, info)
	}
	client := ClientAddr(r)
	bound, err := sourceBinding(req.Source, client)
	if err != nil {
		WriteError(w, apiError(http.StatusBadRequest, "invalid_source", err.Error()))
		return
	}
	if req.Key == "" {
		WriteError(w, apiError(http.StatusUnauthorized, "missing_key", "a media channel key is required"))
		return
	}
	uid := uint32(*req.UID)
	if e := s.CheckKey(r, func() error { return s.keys.VerifyMedia(req.Key, req.Channel, uid) }); e != nil {
		WriteError(w, e)
		return
	}
	var joinOpts []session.JoinOption
	if client.IsValid() {
		joinOpts = append(joinOpts, session.FromClient(client))
	}
	p, err := s.mgr.Join(req.Channel, uid, "rtp", streams, joinOpts...)
	if err != nil {
		WriteError(w, SessionError(err))
		return
	}
	var attachOpts []rtpingest.AttachOption
	if bound.IsValid() {
		attachOpts = append(attachOpts, rtpingest.BindSource(bound))
	} else {
		attachOpts = append(attachOpts, s.pinOption(p)...)
	}
	port, err := s.rtp.Attach(p, streams, attachOpts...)
	if err != nil {
		p.Leave()
		WriteError(w, SessionError(err))
		return
	}
	// Kept before it is answered: a restart after the answer brings the
	// join back on this port.
	rec := joinRecord{ID: p.ID(), Channel: req.Channel, UID: uid, Since: p.Since(), Streams: streams, Port: port, Key: req.Key}
	if client.IsValid() {
		rec.Client = client.String()
	}
	if bound.IsValid() {
		rec.Bound = bound.String()
	}
	if err := s.persistJoin(p, rec); err != nil {
		p.Leave()
		s.log.Error("join not kept in the state store", "channel", req.Channel, "uid", uid, "err", err)
		WriteError(w, apiError(http.StatusServiceUnavailable, "state_unavailable", "the join could not be stored for a restart"))
		return
	}
	w.Header().Set("Location", "/v1/rtp/"+p.ID())
	resp := joinResponse{ID: p.ID(), RTPHost: s.nodeAddress, RTPPort: port}
	if bound.IsValid() {
		resp.Source = bound.String()
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) handleRTPLeave(w http.ResponseWriter, r *http.Request) {
	p := s.mgr.Participant(r.PathValue("id"))
	if p == nil || p.Source() != "rtp" {
		WriteError(w, apiError(http.StatusNotFound, "not_found", "no such participant"))
		return
	}
	p.Leave()
	writeJSON(w, http.StatusOK, map[string]any{"id": p.ID(), "left": true})
}
