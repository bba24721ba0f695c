package whip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

// ResourcePrefix is where WHIP sessions live: POST to the endpoint
// creates /v1/whip/{id}, DELETE on that ends it.
const ResourcePrefix = "/v1/whip/"

// Mount registers the WHIP endpoint and session resources.
func (g *Ingest) Mount(m Mounter) {
	m.Handle("POST /v1/whip", http.HandlerFunc(g.handleOffer))
	m.Handle("OPTIONS /v1/whip", http.HandlerFunc(g.handleOptions))
	m.Handle("DELETE /v1/whip/{id}", http.HandlerFunc(g.handleDelete))
	m.Handle("PATCH /v1/whip/{id}", http.HandlerFunc(g.handlePatch))
	m.Handle("OPTIONS /v1/whip/{id}", http.HandlerFunc(g.handleOptions))
}

func apiErr(status int, code, msg string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

// cors lets a page of another origin publish: the key travels in the
// Authorization header, never in a cookie, so any origin may ask.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link")
}

func (g *Ingest) handleOptions(w http.ResponseWriter, _ *http.Request) {
	cors(w)
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// bearer extracts the key of an "Authorization: Bearer KEY" header.
func bearer(r *http.Request) string {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// request is a checked WHIP POST.
type request struct {
	channel string
	uid     uint32
	offer   []byte
	info    offerInfo
	// client made the call; the session manager's per-address join cap
	// counts it.
	client netip.Addr
}

// readRequest validates the request in the order the API does (channel,
// uid, key) and reads the offer only from a caller with a valid key.
func (g *Ingest) readRequest(w http.ResponseWriter, r *http.Request) (request, *api.Error) {
	req := request{client: api.ClientAddr(r)}
	q := r.URL.Query()
	req.channel = q.Get("channel")
	if err := storage.ValidateChannelName(req.channel); err != nil {
		return req, apiErr(http.StatusBadRequest, "invalid_channel", err.Error())
	}
	uid, err := strconv.ParseUint(q.Get("uid"), 10, 32)
	if err != nil || uid == 0 {
		return req, apiErr(http.StatusBadRequest, "invalid_uid", "uid must be a whole number from 1 to 4294967295")
	}
	req.uid = uint32(uid)
	key := bearer(r)
	if key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ars"`)
		return req, apiErr(http.StatusUnauthorized, "missing_key", "a media channel key is required as Authorization: Bearer KEY")
	}
	if ke := g.gate.Check(r, func() error { return g.keys.VerifyMedia(key, req.channel, req.uid) }); ke != nil {
		if ke.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ars", error="invalid_token"`)
		}
		return req, ke
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		return req, apiErr(http.StatusUnsupportedMediaType, "unsupported_media_type", "the offer must be sent as application/sdp")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, apiErr(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the offer is larger than %d bytes", maxOfferBytes))
		}
		return req, apiErr(http.StatusBadRequest, "bad_request", "the offer could not be read")
	}
	req.offer = body
	if req.info, err = inspectOffer(body); err != nil {
		return req, offerError(err)
	}
	return req, nil
}

func offerError(err error) *api.Error {
	if errors.Is(err, ErrNoRecordableMedia) {
		return apiErr(http.StatusBadRequest, "unsupported_codecs", ErrNoRecordableMedia.Error())
	}
	return apiErr(http.StatusBadRequest, "bad_offer", err.Error())
}

func joinError(err error) *api.Error {
	if errors.Is(err, ErrClosed) {
		return apiErr(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	}
	return api.SessionError(err)
}

func (g *Ingest) handleOffer(w http.ResponseWriter, r *http.Request) {
	cors(w)
	if !g.Enabled() || g.api == nil {
		api.WriteError(w, apiErr(http.StatusServiceUnavailable, "webrtc_disabled", "WebRTC ingest is disabled on this server (ARS_WEBRTC_PORT=0)"))
		return
	}
	req, e := g.readRequest(w, r)
	if e != nil {
		api.WriteError(w, e)
		return
	}
	slot, err := g.pending.admit(clientKey(r))
	if err != nil {
		e := pendingError(err)
		e.RetryAfter = g.iceTimeout
		g.log.Debug("whip offer refused", "reason", err, "client", r.RemoteAddr)
		api.WriteError(w, e)
		return
	}
	answer, id, e := g.open(r.Context(), req, slot)
	if e != nil {
		api.WriteError(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", ResourcePrefix+id)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// pendingError is the answer to an offer over a cap of sessions waiting
// for ICE: 503 when the server as a whole has too many, 429 when this
// client address has.
func pendingError(err error) *api.Error {
	if errors.Is(err, ErrTooManyPendingFromAddr) {
		return apiErr(http.StatusTooManyRequests, "too_many_pending_from_address", err.Error()+" (ARS_WEBRTC_MAX_PENDING_PER_ADDR)")
	}
	return apiErr(http.StatusServiceUnavailable, "too_many_pending", err.Error()+" (ARS_WEBRTC_MAX_PENDING)")
}

// open answers the offer, then joins the participant: a refused offer
// must not replace a session the same uid already has. The session holds
// slot until it connects or ends.
func (g *Ingest) open(ctx context.Context, req request, slot *pendingSlot) (string, string, *api.Error) {
	pc, err := g.api.NewPeerConnection(webrtc.Configuration{
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
	if err != nil {
		slot.release()
		g.log.Error("new peer connection", "err", err)
		return "", "", apiErr(http.StatusInternalServerError, "internal", "could not create a peer connection")
	}
	fail := func(e *api.Error) (string, string, *api.Error) {
		_ = pc.GracefulClose()
		slot.release()
		return "", "", e
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(req.offer)}); err != nil {
		return fail(apiErr(http.StatusBadRequest, "bad_offer", "the offer was refused: "+err.Error()))
	}
	if err := preferVideo(pc); err != nil {
		g.log.Error("video codec preferences", "err", err)
		return fail(apiErr(http.StatusInternalServerError, "internal", "could not choose a video codec"))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(apiErr(http.StatusBadRequest, "bad_offer", "no answer to this offer: "+err.Error()))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(apiErr(http.StatusBadRequest, "bad_offer", "no answer to this offer: "+err.Error()))
	}
	// WHIP answers carry every candidate: with the shared port they are
	// known at once.
	gctx, cancel := context.WithTimeout(ctx, g.gatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-gctx.Done():
		return fail(apiErr(http.StatusServiceUnavailable, "ice_gathering", "ICE candidates could not be gathered in time"))
	}
	local := pc.LocalDescription()
	if local == nil {
		return fail(apiErr(http.StatusInternalServerError, "internal", "no local description"))
	}
	// Nothing reaches the PeerConnection before the client has the answer,
	// so the handlers newPeer installs miss no track.
	pr := newPeer(g, pc, slot)
	if err := g.track(pr); err != nil {
		return fail(joinError(err))
	}
	p, err := g.mgr.Join(req.channel, req.uid, "webrtc", nil, session.FromClient(req.client))
	if err != nil {
		pr.shutdown("join refused")
		return "", "", joinError(err)
	}
	if !pr.attach(p) {
		return "", "", joinError(ErrClosed)
	}
	pr.startICETimer(g.iceTimeout)
	if g.keyframeInterval > 0 {
		interval := g.keyframeInterval
		pr.startLoop(func() { pr.keyframeTicker(interval) })
	}
	pr.log.Info("webrtc session opened", "video", req.info.Video, "audio", req.info.Audio, "rejected_sections", req.info.Other)
	return local.SDP, p.ID(), nil
}

func (g *Ingest) handleDelete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	p := g.mgr.Participant(r.PathValue("id"))
	if p == nil || p.Source() != "webrtc" {
		api.WriteError(w, apiErr(http.StatusNotFound, "not_found", "no such WHIP session"))
		return
	}
	p.Leave()
	w.WriteHeader(http.StatusOK)
}

// handlePatch refuses trickle ICE and ICE restarts: answers already hold
// every candidate (RFC 9725 section 4.3.1 allows a server not to support
// them, with 405).
func (g *Ingest) handlePatch(w http.ResponseWriter, _ *http.Request) {
	cors(w)
	w.Header().Set("Allow", "DELETE, OPTIONS")
	api.WriteError(w, apiErr(http.StatusMethodNotAllowed, "trickle_unsupported", "trickle ICE and ICE restarts are not supported; send a complete offer"))
}
