package cloudrec

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/webhook"
)

// Channels is where recorders attach (internal/session.Manager).
type Channels interface {
	AddSink(channel string, s session.Sink) (remove func(), err error)
}

// KeyVerifier checks the recorder's token (internal/rdk.Verifier).
type KeyVerifier interface {
	VerifyMedia(key, channel string, uid uint32) error
}

// Guard runs credential checks under the API's per-address failure limit
// (internal/api.Server).
type Guard interface {
	CheckKey(r *http.Request, check func() error) *api.Error
}

// Notifier queues webhook events (internal/webhook.Notifier).
type Notifier interface {
	Notify(eventType, serviceType int, p webhook.Payload) error
}

// Config is the service's fixed configuration.
type Config struct {
	AppID          string
	CustomerID     string
	CustomerSecret string
	// WorkDir holds the files of running recordings until uploaded.
	WorkDir string
	// LocalDir is the root of local-disk storage (vendor 100).
	LocalDir string
	// ForceLocal sends every recording to LocalDir whatever the vendor.
	ForceLocal bool
	// ResourceTTL is how long an acquired resource can start a recording.
	ResourceTTL time.Duration
	// SegmentDuration is the HLS segment target.
	SegmentDuration time.Duration
	// IndividualFMP4 makes individual mode write fragmented-MP4 segments
	// with Opus audio (and MP4 files on request) instead of Agora's
	// MPEG-TS with AAC audio.
	IndividualFMP4 bool
	// AACFast picks libavcodec's fast AAC coder for that audio: about a
	// third less CPU a stream, a little worse sound.
	AACFast bool
	// StopWait bounds how long a stop waits for uploads before answering.
	StopWait time.Duration
	// ProgressEvery spaces uploading_progress events.
	ProgressEvery time.Duration
	// MaxResources caps acquired resources not yet used to start;
	// MaxSessions caps running recordings, MaxPerChannel those of one
	// channel.
	MaxResources, MaxSessions, MaxPerChannel int
	// WriteRetry is the pause of a track after a failed write (default
	// DefaultWriteRetry).
	WriteRetry time.Duration
	// MixerBin is the ars-mixer that makes mix-mode composites; empty:
	// mixrun.FindBinary's default. Without one, mix starts are refused.
	MixerBin string
	// MaxMixes caps running mix-mode recordings: each is an encoder
	// process (about 0.15-0.4 of a core).
	MaxMixes int
	// MixMP4MaxDuration and MixMP4MaxBytes split a composite's MP4
	// (defaults 3 h and 2 GiB).
	MixMP4MaxDuration time.Duration
	MixMP4MaxBytes    int64
	// RateLimit caps the API's requests per second for the app ID, as
	// Agora's gateway does (429 past it); 0: no limit.
	RateLimit int
}

// EndpointGuard judges storage endpoints (internal/netguard.Guard).
type EndpointGuard interface {
	CheckURL(ctx context.Context, purpose string, u *url.URL) error
}

// Service is the cloud recording API.
type Service struct {
	cfg      Config
	log      *slog.Logger
	channels Channels
	keys     KeyVerifier
	guard    Guard
	uploader *objstore.Uploader
	notifier Notifier
	now      func() time.Time
	guardURL EndpointGuard
	// m counts caps, write failures and lost files; nil: not counted.
	m *metrics.Metrics
	// limiter is the per-app request rate (Config.RateLimit); nil: off.
	limiter *rate.Limiter
	// durable: resources and recordings are kept in the state store
	// (WithState, persist.go).
	durable bool
	resTab  state.Table[resourceRecord]
	sesTab  state.Table[sessionRecord]

	mu        sync.Mutex
	closed    bool
	resources map[string]*resource
	sessions  map[string]*recorder // by sid, running
	active    map[string]string    // activeKey(cname, uid) -> sid
	ended     map[string]*endedSession
	// unused counts resources not yet used to start (the cap's count);
	// perChannel counts running recorders by cname.
	unused     int
	perChannel map[string]int
	// mixes counts running mix-mode recordings (MaxMixes caps them).
	mixes   int
	wg      sync.WaitGroup
	stopJan chan struct{}
	// toResume are the recorders Load brought back, started by Start.
	toResume []*recorder
}

type resource struct {
	id, cname, uid string
	created        time.Time
	used           bool
}

type endedSession struct {
	at              time.Time
	cname, uid, rid string
	// replay is the answer a repeated stop gets (a 206 is safe to
	// repeat); nil means 404.
	replay *stopResponse
	// byStop: a stop ended the recording, so another stop gets 49.
	byStop bool
	// final is the answer of a stop that was told 65 (uploads still
	// running) and may come back for it, once.
	final  *stopResponse
	status int
	// lost counts files that never reached storage: no late "uploaded".
	lost int
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithEndpointGuard checks storage endpoints at start against the
// outbound address policy.
func WithEndpointGuard(g EndpointGuard) Option { return func(s *Service) { s.guardURL = g } }

// WithMetrics reports held resources, running recordings and refusals.
func WithMetrics(m *metrics.Metrics) Option { return func(s *Service) { s.m = m } }

// WithNotifier sends webhook events.
func WithNotifier(n Notifier) Option { return func(s *Service) { s.notifier = n } }

// New builds the service. The uploader must report its results to
// UploadResult.
func New(cfg Config, channels Channels, keys KeyVerifier, guard Guard, up *objstore.Uploader, opts ...Option) *Service {
	if cfg.ResourceTTL <= 0 {
		cfg.ResourceTTL = 5 * time.Minute
	}
	if cfg.StopWait <= 0 {
		cfg.StopWait = 5 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Minute
	}
	cfg.MaxResources = cmp.Or(max(cfg.MaxResources, 0), 1000)
	cfg.MaxSessions = cmp.Or(max(cfg.MaxSessions, 0), 200)
	cfg.MaxPerChannel = cmp.Or(max(cfg.MaxPerChannel, 0), 8)
	cfg.MaxMixes = cmp.Or(max(cfg.MaxMixes, 0), 16)
	cfg.MixMP4MaxDuration = cmp.Or(max(cfg.MixMP4MaxDuration, 0), mixMP4MaxDuration)
	cfg.MixMP4MaxBytes = cmp.Or(max(cfg.MixMP4MaxBytes, 0), mixMP4MaxBytes)
	if cfg.WriteRetry <= 0 {
		cfg.WriteRetry = DefaultWriteRetry
	}
	s := &Service{cfg: cfg, log: slog.Default(), channels: channels, keys: keys, guard: guard, uploader: up,
		now: time.Now, resources: map[string]*resource{}, sessions: map[string]*recorder{},
		active: map[string]string{}, ended: map[string]*endedSession{}, perChannel: map[string]int{}, stopJan: make(chan struct{})}
	if cfg.RateLimit > 0 {
		// A second's worth of burst: a client may send its requests of
		// one second at once.
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateLimit)
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "cloudrec")
	return s
}

// Mount registers the routes on mux-like mounters (internal/api.Server).
func (s *Service) Mount(handle func(pattern string, h http.Handler)) {
	p := "/v1/apps/{appid}/cloud_recording"
	handle("POST "+p+"/acquire", s.wrap(s.handleAcquire))
	handle("POST "+p+"/resourceid/{rid}/mode/{mode}/start", s.wrap(s.handleStart))
	handle("GET "+p+"/resourceid/{rid}/sid/{sid}/mode/{mode}/query", s.wrap(s.handleQuery))
	handle("POST "+p+"/resourceid/{rid}/sid/{sid}/mode/{mode}/update", s.wrap(s.handleUpdate))
	handle("POST "+p+"/resourceid/{rid}/sid/{sid}/mode/{mode}/updateLayout", s.wrap(s.handleUpdateLayout))
	handle("POST "+p+"/resourceid/{rid}/sid/{sid}/mode/{mode}/stop", s.wrap(s.handleStop))
	// Anything else under /v1/apps (another path, another method) gets
	// the gateway's JSON answer, never net/http's text/plain 404 or 405.
	handle("/v1/apps/", s.noRoute())
	handle("/v1/apps", s.noRoute())
}

// Start creates the working directory, resumes the recordings Load
// brought back and starts housekeeping.
func (s *Service) Start() error {
	if err := os.MkdirAll(s.cfg.WorkDir, 0o750); err != nil {
		return fmt.Errorf("cloudrec: work dir: %w", err)
	}
	s.resumeAll()
	s.wg.Add(1)
	go s.janitor()
	return nil
}

// activeKey is the key of s.active: one running recording per cname and
// uid. It is built here only, so that a start's check and a recorder's
// entry cannot disagree.
func activeKey(cname, uid string) string { return cname + "\x00" + uid }

// activeKey is r's key of s.active.
func (r *recorder) activeKey() string { return activeKey(r.cname, r.uidStr) }

// Close stops every running recorder (their files are finished and
// queued for upload) and refuses new requests. With a state store the
// recorders are suspended instead, to be resumed by the next run.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	recs := make([]*recorder, 0, len(s.sessions))
	for _, r := range s.sessions {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	close(s.stopJan)
	cause := "shutdown"
	if s.durable {
		cause = causeSuspend
	}
	for _, r := range recs {
		r.requestExit(cause)
	}
	for _, r := range recs {
		select {
		case <-r.finished:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.wg.Wait()
	return nil
}

// janitor forgets expired resources and long-ended sessions.
func (s *Service) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stopJan:
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		for id, r := range s.resources {
			if now.Sub(r.created) > s.cfg.ResourceTTL+time.Hour {
				s.dropResourceLocked(id, r)
			}
		}
		for id, e := range s.ended {
			if now.Sub(e.at) > 24*time.Hour {
				delete(s.ended, id)
			}
		}
		s.trimEndedLocked()
		s.mu.Unlock()
	}
}

// maxEnded bounds the ended sessions kept to answer a repeated stop or a
// late query: a customer looping start and stop would otherwise grow the
// map for the 24 hours they are kept.
const maxEnded = 10000

// trimEndedLocked forgets the oldest ended sessions past maxEnded.
func (s *Service) trimEndedLocked() {
	over := len(s.ended) - maxEnded
	if over <= 0 {
		return
	}
	ids := make([]string, 0, len(s.ended))
	for id := range s.ended {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return s.ended[a].at.Compare(s.ended[b].at) })
	for _, id := range ids[:over] {
		delete(s.ended, id)
	}
}

// handler returns an answer: a status and a body, or an Agora error.
type handler func(r *http.Request) (int, any, *apiError)

// wrap runs h as Agora's front end would: a request ID on every answer,
// the gateway's credential check and rate limit, the app ID, then the
// call; every answer is JSON.
func (s *Service) wrap(h handler) http.Handler {
	return s.withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		if r.PathValue("appid") != s.cfg.AppID {
			writeError(w, invalid("invalid appid"))
			return
		}
		if e := s.rateLimited(); e != nil {
			writeError(w, e)
			return
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			writeError(w, exiting())
			return
		}
		status, body, e := h(r)
		if e != nil {
			s.log.Info("request refused", "path", r.URL.Path, "code", e.code, "reason", e.Error(),
				"request_id", w.Header().Get(requestIDHeader))
			writeError(w, e)
			return
		}
		writeJSON(w, status, body)
	}))
}

// requestIDHeader names the answer's request ID (the official Go
// client's GetRequestID reads it).
const requestIDHeader = "X-Request-Id"

// withRequestID gives every answer of h a new request ID, set before h
// writes anything, so that errors and gateway answers carry one too.
func (s *Service) withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(requestIDHeader, newRequestID())
		h.ServeHTTP(w, r)
	})
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// noRoute is the gateway's answer to a path or method of
// /v1/apps/... that is no route of the API.
func (s *Service) noRoute() http.Handler {
	return s.withRequestID(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, gateway(http.StatusNotFound, msgNoRoute))
	}))
}

// rateLimited refuses a request over the per-app rate, as Agora's
// gateway does: 429 {"message"}.
func (s *Service) rateLimited() *apiError {
	if s.limiter == nil || s.limiter.Allow() {
		return nil
	}
	s.refused(limitRate)
	return gateway(http.StatusTooManyRequests, msgRateLimit)
}

// authorized checks HTTP Basic credentials under the failure rate limit.
func (s *Service) authorized(w http.ResponseWriter, r *http.Request) bool {
	_, _, sent := r.BasicAuth()
	e := s.guard.CheckKey(r, func() error {
		id, secret, ok := r.BasicAuth()
		if ok && subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.CustomerID)) == 1 &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.CustomerSecret)) == 1 {
			return nil
		}
		return errors.New("bad credentials")
	})
	if e == nil {
		return true
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(e.RetryAfter.Seconds()+0.999)))
	}
	if e.Status == http.StatusTooManyRequests {
		// The credentials were not checked: do not call them invalid.
		writeError(w, gateway(e.Status, e.Message))
		return false
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="ars cloud recording"`)
	if !sent {
		// Agora's gateway tells a missing Authorization header apart.
		writeError(w, gateway(http.StatusUnauthorized, msgUnauthorized))
		return false
	}
	writeError(w, gateway(http.StatusUnauthorized, msgBadAuth))
	return false
}

// decode reads a JSON body of at most 1 MiB.
func decode(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return invalid("cannot read the request body")
	}
	if len(b) > 1<<20 {
		return invalid("request body too large")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return invalid("invalid JSON: " + err.Error())
	}
	if err := api.CheckDuplicateKeys(b); err != nil {
		return invalid(err.Error())
	}
	return nil
}

// resourceIDBytes is the size of a resource ID's random bytes.
const resourceIDBytes = 96

func newResourceID() string {
	b := make([]byte, resourceIDBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newSID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// UploadResult routes an uploader outcome to its recording.
func (s *Service) UploadResult(res objstore.Result) {
	s.mu.Lock()
	r := s.sessions[res.Job.Session]
	var cname, uid string
	if e := s.ended[res.Job.Session]; e != nil {
		cname, uid = e.cname, e.uid
	}
	s.mu.Unlock()
	if r != nil {
		r.uploadResult(res)
		return
	}
	// The last file of an ended recording left the backup: now every file
	// is in its destination, which is what "uploaded" promises.
	if res.Outcome == objstore.Restored && !s.uploader.HasBackups(res.Job.Session) && !s.endedLost(res.Job.Session) {
		s.notify(webhook.Uploaded{Status: 0, FileName: res.Job.Key, Restored: true},
			webhook.Payload{Cname: cname, UID: uid, SID: res.Job.Session})
	}
}

// notify queues event d with payload p.
func (s *Service) notify(d webhook.Event, p webhook.Payload) {
	if s.notifier == nil {
		return
	}
	p.Details = d
	if err := s.notifier.Notify(d.EventType(), d.ServiceType(), p); err != nil {
		s.log.Warn("webhook not queued", "event", d.EventType(), "error", err)
	}
}

// forget moves a recorder from the running to the ended sessions; replay,
// if set, is what a repeated stop answers.
func (s *Service) forget(r *recorder, replay *stopResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := r.activeKey(); s.active[k] == r.sid {
		delete(s.active, k)
	}
	if _, running := s.sessions[r.sid]; running {
		if s.perChannel[r.cname]--; s.perChannel[r.cname] <= 0 {
			delete(s.perChannel, r.cname)
		}
		if r.settings.mix != nil {
			s.mixes--
		}
		defer s.gaugesLocked()
	}
	e := s.ended[r.sid]
	if e == nil {
		e = &endedSession{at: s.now(), cname: r.cname, uid: r.uidStr}
		s.ended[r.sid] = e
	}
	e.rid = r.rid
	if replay != nil {
		e.replay = replay
	}
	delete(s.sessions, r.sid)
}

// endedBy records how an ended recording ended: by a stop (another stop
// gets 49), and the final answer owed to a stop that got 65 (nil: none).
func (s *Service) endedBy(r *recorder, byStop bool, final *stopResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.ended[r.sid]; e != nil {
		e.byStop, e.final = byStop, final
	}
}

// takeFinal drops the final answer owed to a stop of sid: a stop that
// waited on the recorder gave it.
func (s *Service) takeFinal(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.ended[sid]; e != nil {
		e.final = nil
	}
}

// byResourceLocked is the running recorder started with resource rid, or
// nil.
func (s *Service) byResourceLocked(rid string) *recorder {
	for _, r := range s.sessions {
		if r.rid == rid {
			return r
		}
	}
	return nil
}

// validResourceID reports whether id has the shape of the IDs
// newResourceID makes: 96 bytes in unpadded base64url.
func validResourceID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(resourceIDBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// setReplay records the answer a repeated stop of r gets.
func (s *Service) setReplay(r *recorder, replay *stopResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended[r.sid] = &endedSession{at: s.now(), cname: r.cname, uid: r.uidStr, rid: r.rid, replay: replay}
}

// dropResourceLocked forgets a resource.
func (s *Service) dropResourceLocked(id string, r *resource) {
	if !r.used {
		s.unused--
	}
	delete(s.resources, id)
	s.forgetResource(id)
	s.gaugesLocked()
}

// sweepExpiredLocked forgets unused resources past their TTL at once
// rather than an hour later (when the janitor would, keeping them to
// answer 433): run when the cap is reached, so expired IDs never hold
// capacity. A start with one of them then gets "invalid resourceId".
func (s *Service) sweepExpiredLocked(now time.Time) {
	for id, r := range s.resources {
		if !r.used && now.Sub(r.created) > s.cfg.ResourceTTL {
			s.dropResourceLocked(id, r)
		}
	}
}

// capLocked is the refusal of a start over a recorder cap, or nil.
func (s *Service) capLocked(cname string, mix bool) *apiError {
	if mix && s.mixes >= s.cfg.MaxMixes {
		s.refused(limitMixes)
		return tooMany(fmt.Sprintf("too many mix-mode recordings running (at most %d, ARS_CLOUD_MAX_MIXES); stop one or retry later", s.cfg.MaxMixes))
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.refused(limitSessions)
		return tooMany(fmt.Sprintf("too many cloud recordings running (at most %d, ARS_CLOUD_MAX_SESSIONS); stop one or retry later", s.cfg.MaxSessions))
	}
	if s.perChannel[cname] >= s.cfg.MaxPerChannel {
		s.refused(limitChannel)
		return tooMany(fmt.Sprintf("too many cloud recordings running in channel %q (at most %d, ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL)", cname, s.cfg.MaxPerChannel))
	}
	return nil
}

func (s *Service) refused(limit string) {
	if s.m != nil {
		s.m.CloudLimitRefused.WithLabelValues(limit).Inc()
	}
}

func (s *Service) gaugesLocked() {
	if s.m != nil {
		s.m.CloudResourcesHeld.Set(float64(s.unused))
		s.m.CloudRecordings.Set(float64(len(s.sessions)))
	}
}
