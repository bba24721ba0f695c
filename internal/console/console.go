package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/cluster"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
)

//go:embed static
var staticFiles embed.FS

// RecordingVerifier checks recording keys (internal/rdk.Verifier).
type RecordingVerifier interface {
	VerifyRecording(key, channel string, uid uint32) error
}

// Mounter is where handlers are mounted (internal/api.Server).
type Mounter interface {
	Handle(pattern string, h http.Handler)
}

// DevCredentials are the generated app ID and certificate of development
// mode, with which the console may mint keys.
type DevCredentials struct {
	AppID, AppCertificate string
}

// Console serves the web console and its JSON.
type Console struct {
	mgr    *session.Manager
	keys   RecordingVerifier
	root   string
	dev    *DevCredentials
	webrtc bool
	log    *slog.Logger
	gate   *api.KeyGate
	sign   signer
	static fs.FS
	admin  []byte // the operator token of the channel list
	nodes  NodeLister
}

// NodeLister lists the cluster's live nodes (internal/cluster; a single
// node lists itself).
type NodeLister interface {
	Nodes(ctx context.Context) ([]cluster.Node, error)
}

// WithNodes serves GET /v1/cluster/nodes from l, with the channel list's
// operator token.
func WithNodes(l NodeLister) Option { return func(c *Console) { c.nodes = l } }

// Option configures a Console.
type Option func(*Console)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Console) { c.log = l } }

// WithDevMode enables key minting with the generated credentials. Only
// `ars serve` in development mode (no app ID configured) may pass it.
func WithDevMode(creds DevCredentials) Option {
	return func(c *Console) { c.dev = &creds }
}

// WithKeyGate shares the API's per-address budget of failed key checks.
func WithKeyGate(g *api.KeyGate) Option { return func(c *Console) { c.gate = g } }

// WithAdminToken sets the operator token that GET /v1/channels asks for
// outside development mode (ARS_ADMIN_TOKEN).
func WithAdminToken(token string) Option {
	return func(c *Console) {
		if token != "" {
			c.admin = []byte(token)
		}
	}
}

// WithWebRTC tells the page whether WHIP publishing is available.
func WithWebRTC(enabled bool) Option { return func(c *Console) { c.webrtc = enabled } }

// WithURLLifetime sets how long a signed file URL plays (default 1h, long
// enough to watch a long recording with seeks).
func WithURLLifetime(d time.Duration) Option { return func(c *Console) { c.sign.ttl = d } }

// WithClock sets the time source of URL expiry (tests).
func WithClock(now func() time.Time) Option { return func(c *Console) { c.sign.now = now } }

// New makes the console for the recordings under root (AGORA_FILE_ROOT).
func New(mgr *session.Manager, keys RecordingVerifier, root string, opts ...Option) *Console {
	key := make([]byte, 32)
	_, _ = rand.Read(key)                   // crypto/rand.Read never fails on Linux
	sub, _ := fs.Sub(staticFiles, "static") // the directory is embedded above
	c := &Console{
		mgr: mgr, keys: keys, root: root, log: slog.Default(), static: sub,
		sign: signer{key: key, ttl: time.Hour, now: time.Now},
	}
	for _, o := range opts {
		o(c)
	}
	if c.gate == nil {
		c.gate = api.NewKeyGate(metrics.New(), c.log)
	}
	c.log = c.log.With("component", "console")
	return c
}

// Mount registers the console's routes.
func (c *Console) Mount(m Mounter) {
	m.Handle("GET /{$}", http.HandlerFunc(c.handleIndex))
	m.Handle("GET /console/", http.StripPrefix("/console/", c.assets()))
	m.Handle("GET /ars-publish.js", http.HandlerFunc(c.handlePublishJS))
	m.Handle("GET /v1/console/config", http.HandlerFunc(c.handleConfig))
	m.Handle("GET /v1/channels", http.HandlerFunc(c.handleChannels))
	if c.nodes != nil {
		m.Handle("GET /v1/cluster/nodes", http.HandlerFunc(c.handleNodes))
	}
	m.Handle("POST /v1/recordings", http.HandlerFunc(c.handleList))
	m.Handle("GET "+fileRoute, http.HandlerFunc(c.handleFile))
	m.Handle("POST /v1/dev/keys", http.HandlerFunc(c.handleDevKeys))
}

// securityHeaders keep the page to its own scripts and origin.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (c *Console) handleIndex(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	http.ServeFileFS(w, r, c.static, "index.html")
}

func (c *Console) assets() http.Handler {
	files := http.FileServerFS(c.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		files.ServeHTTP(w, r)
	})
}

// handlePublishJS serves the publishing client to any origin: a page
// elsewhere may embed it and publish to this server.
func (c *Console) handlePublishJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, c.static, "ars-publish.js")
}

type configResponse struct {
	Dev    bool `json:"dev"`
	WebRTC bool `json:"webrtc"`
	// ChannelsNeedToken tells the page to ask for the operator token.
	ChannelsNeedToken bool `json:"channelsNeedToken"`
}

func (c *Console) handleConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, configResponse{Dev: c.dev != nil, WebRTC: c.webrtc, ChannelsNeedToken: c.dev == nil})
}

type channelsResponse struct {
	Channels []any `json:"channels"`
}

// handleChannels lists the active channels in the shape of the status
// API. The list names every channel with its uids, tags and directories,
// so outside development mode it answers only to the operator token.
func (c *Console) handleChannels(w http.ResponseWriter, r *http.Request) {
	if e := c.checkAdmin(r); e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ars operator"`)
		}
		api.WriteError(w, e)
		return
	}
	resp := channelsResponse{Channels: []any{}}
	for _, st := range c.mgr.Channels() {
		resp.Channels = append(resp.Channels, api.StatusBody(st))
	}
	writeJSON(w, http.StatusOK, resp)
}

type nodesResponse struct {
	Nodes []cluster.Node `json:"nodes"`
}

// handleNodes lists the cluster's live nodes with their load. Like the
// channel list it answers only to the operator token outside development
// mode (it names every node's address).
func (c *Console) handleNodes(w http.ResponseWriter, r *http.Request) {
	if e := c.checkAdmin(r); e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ars operator"`)
		}
		api.WriteError(w, e)
		return
	}
	nodes, err := c.nodes.Nodes(r.Context())
	if err != nil {
		c.log.Warn("cluster nodes not listed", "err", err)
		api.WriteError(w, apiErr(http.StatusServiceUnavailable, "cluster_unavailable", "the cluster's Redis did not answer; recordings go on, try again"))
		return
	}
	if nodes == nil {
		nodes = []cluster.Node{}
	}
	writeJSON(w, http.StatusOK, nodesResponse{Nodes: nodes})
}

// errBadAdminToken is the answer to a wrong operator token; it goes
// through the key gate so that guessing the token is slowed like keys.
var errBadAdminToken = apiErr(http.StatusUnauthorized, "invalid_admin_token", "the operator token does not match ARS_ADMIN_TOKEN")

// checkAdmin admits development mode, or a request bearing the operator
// token (compared in constant time).
func (c *Console) checkAdmin(r *http.Request) *api.Error {
	if c.dev != nil {
		return nil
	}
	if c.admin == nil {
		return apiErr(http.StatusForbidden, "admin_token_not_configured",
			"the channel list needs an operator token: set ARS_ADMIN_TOKEN or ARS_ADMIN_TOKEN_FILE and send it as Authorization: Bearer")
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return apiErr(http.StatusUnauthorized, "admin_token_required", "send the operator token as Authorization: Bearer <token>")
	}
	return c.gate.Check(r, func() error {
		if subtle.ConstantTimeCompare([]byte(token), c.admin) != 1 {
			return errBadAdminToken
		}
		return nil
	})
}
