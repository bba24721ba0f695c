package daemon

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/cloudrec"
	"github.com/ars-project/ars/internal/cluster"
	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/console"
	"github.com/ars-project/ars/internal/fdlimit"
	"github.com/ars-project/ars/internal/handover"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/pprofserver"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/sysd"
	"github.com/ars-project/ars/internal/webhook"
	"github.com/ars-project/ars/internal/whip"
)

// Daemon is `ars serve`: every component, made by the stages in order.
type Daemon struct {
	cfg      config.Config
	log      *slog.Logger
	stdout   io.Writer
	m        *metrics.Metrics
	layout   storage.Layout
	verifier *rdk.Verifier
	fdPlan   fdlimit.Plan
	stateDir string
	// shmBufDir is the crash-buffer directory the daemon made in
	// /dev/shm, removed at a clean stop.
	shmBufDir string

	st     state.Backend
	pool   *batch.Pool
	mgr    *session.Manager
	mixes  *arsmix.Mixes
	rtp    *rtpingest.Engine
	gate   *api.KeyGate
	srv    *api.Server
	wh     *whip.Ingest
	cons   *console.Console
	hooks  *webhook.Notifier
	upload *objstore.Uploader
	cloud  *cloudrec.Service
	prof   *pprofserver.Server
	// cluster is the node's membership (a single node without
	// ARS_CLUSTER_REDIS).
	cluster *cluster.Cluster
	// sockets are the ones systemd passed (socket activation).
	sockets *handover.Sockets
	// listening is set once the HTTP API listens.
	listening atomic.Bool

	life lifecycle
}

// New lays out the stages; nothing is checked or started before Run.
func New(cfg config.Config, stdout, stderr io.Writer) *Daemon {
	d := &Daemon{cfg: cfg, log: newLogger(cfg, stderr), stdout: stdout, m: metrics.New()}
	d.layout = storage.Layout{Root: cfg.FileRoot}
	d.stateDir = cmp.Or(cfg.StateDir, filepath.Join(cfg.FileRoot, ".ars"))
	// Taken at once: the activation variables are cleared so that no
	// child (ars-mixer, ffmpeg) takes them.
	d.sockets = handover.Inherited(d.log)
	d.life.stages = d.stages()
	return d
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// stages is the start order; the stop order is its reverse. See doc.go
// for why it is this one.
func (d *Daemon) stages() []stage {
	st := []stage{
		{name: "files", start: d.checkFiles},
		{name: "descriptors", start: d.planDescriptors},
		{name: "state", start: d.openState, close: d.closeState},
		{name: "transcode pool", start: d.startPool, close: d.closePool},
		{name: "sessions", start: d.startSessions, close: d.closeSessions},
		{name: "live composites", start: d.startMixes, close: noErr(d.closeMixes)},
		{name: "rtp sockets", start: d.bindRTP, close: noErr(d.closeRTP)},
		{name: "api", start: d.makeAPI},
		{name: "joins", start: d.resumeJoins},
		{name: "webhooks", start: d.startWebhooks, close: d.closeWebhooks},
		{name: "uploads", start: d.startUploads, close: d.closeUploads},
		{name: "cloud recording", start: d.startCloud, close: d.closeCloud},
		// Only in a cluster (ARS_CLUSTER_REDIS): the node registers once
		// what it runs is resumed, before the API listens, and leaves
		// the registry after the API has closed.
		{name: "cluster", start: d.startCluster, close: d.closeCluster},
		// The readers stop first on the way down: what arrives then
		// waits in the kernel for the next instance.
		{name: "rtp readers", start: d.serveRTP, close: noErr(d.closeRTP)},
		{name: "webrtc ingest", start: d.startWHIP, close: noErr(d.closeWHIP)},
		{name: "http", start: d.startHTTP, close: d.closeHTTP},
		{name: "pprof", start: d.startPprof, close: d.closePprof},
	}
	if d.cfg.ClusterRedis == "" {
		st = slices.DeleteFunc(st, func(s stage) bool { return s.name == "cluster" })
	}
	return st
}

// Run starts every stage, reports readiness, and on ctx's end stops
// gracefully; a close of force cuts the graceful stop short.
func (d *Daemon) Run(ctx context.Context, force <-chan struct{}) error {
	if err := d.life.start(context.Background()); err != nil {
		return err
	}
	notifier := sysd.New(d.log)
	notifier.Ready()
	watchdogStop := notifier.Watchdog(ctx, sysd.AllHealthy(d.mgr.Healthy, sysd.HTTPProbe(d.srv.Addr(), "/healthz")))
	d.log.Info("ars ready", "http", d.srv.Addr().String(), "rtp_ports", d.cfg.RTPPorts.String(), "root", d.cfg.FileRoot)

	<-ctx.Done()
	notifier.Stopping()
	watchdogStop()
	d.log.Info("shutting down: finalising captures (send the signal again to force)")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-force:
			d.log.Warn("second signal: forcing shutdown")
			cancel()
		case <-shutdownCtx.Done():
		}
	}()
	err := d.life.close(shutdownCtx)
	d.log.Info("ars stopped")
	return err
}

// addr is the HTTP API's address once Run has started it (tests).
func (d *Daemon) addr() string {
	if !d.listening.Load() {
		return ""
	}
	return d.srv.Addr().String()
}
