package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/term"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/cloudrec"
	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/console"
	"github.com/ars-project/ars/internal/fdlimit"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/netguard"
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

func serveMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := config.Load(args, os.Getenv, fs)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	ctx, force, stop := signalContext()
	defer stop()
	return run(ctx, force, cfg, stdout, stderr)
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

// stack closes what was started, last started first, with a name for
// each error.
type stack []struct {
	name  string
	close func(context.Context) error
}

func (st *stack) push(name string, close func(context.Context) error) {
	*st = append(*st, struct {
		name  string
		close func(context.Context) error
	}{name, close})
}

func (st stack) closeAll(ctx context.Context) error {
	var errs []error
	for i := len(st) - 1; i >= 0; i-- {
		if err := st[i].close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st[i].name, err))
		}
	}
	return errors.Join(errs...)
}

func noErr(f func()) func(context.Context) error {
	return func(context.Context) error { f(); return nil }
}

// run is the daemon: it wires every component by hand, starts them in an
// order whose reverse is the right shutdown (HTTP first, then the cloud
// recorder, the ingests, uploads and webhooks, the sessions that finalise
// every capture, and last the conversions they queue), reports readiness
// once all listeners are bound, and on ctx's end stops gracefully. A close
// of force cuts the graceful stop short.
func run(ctx context.Context, force <-chan struct{}, cfg config.Config, stdout, stderr io.Writer) (err error) {
	log := newLogger(cfg, stderr)
	credPath, created, err := cfg.EnsureDevCredentials()
	if err != nil {
		return err
	}
	layout := storage.Layout{Root: cfg.FileRoot}
	if err := layout.CheckWritable(); err != nil {
		return fmt.Errorf("AGORA_FILE_ROOT: %w", err)
	}
	if cfg.Dev {
		printDevBanner(stdout, cfg, credPath, created, isTerminal(stdout))
	}
	verifier, err := rdk.NewVerifier(cfg.AppID, cfg.AppCertificate, rdk.WithMaxSkew(cfg.KeyMaxSkew))
	if err != nil {
		return fmt.Errorf("ARS_APP_ID/ARS_APP_CERTIFICATE: %w", err)
	}
	m := metrics.New()
	fdPlan, err := planDescriptors(cfg, log, m)
	if err != nil {
		return err
	}
	var started stack
	defer func() {
		if err != nil { // a start failed: undo what was started
			_ = started.closeAll(context.Background())
		}
	}()

	// The durable state opens first and closes last: the sessions and
	// the cloud recorder write into it until they are closed.
	stateDir := cmp.Or(cfg.StateDir, filepath.Join(cfg.FileRoot, ".ars"))
	var st state.Backend
	if cfg.Resume {
		b, err := state.Open(stateDir)
		if err != nil {
			return fmt.Errorf("ARS_STATE_DIR: %w", err)
		}
		st = b
		started.push("state", func(context.Context) error { return b.Close() })
	}

	sessionOpts := []session.Option{
		session.WithLogger(log), session.WithMetrics(m), session.WithIdleTimeout(cfg.IdleTimeout),
		session.WithMaxJoinsPerClient(cfg.MaxJoinsPerIP), session.WithMaxTotalParticipants(cfg.MaxParticipants),
		session.WithMaxParticipants(cfg.MaxChannelParticipants), session.WithMaxChannels(cfg.MaxChannels),
		session.WithCaptureQueue(max(cfg.CaptureQueueBytes/256, 64), cfg.CaptureQueueBytes),
	}
	if st != nil {
		sessionOpts = append(sessionOpts, session.WithState(st))
	}
	if cfg.TranscodeOnStop {
		pool := batch.NewPool(batch.DefaultConverter(), log, batch.WithWorkers(cfg.TranscodeWorkers))
		pool.Start()
		started.push("transcode pool", pool.Close)
		sessionOpts = append(sessionOpts, session.WithCaptureClosed(func(path string) { pool.Submit(path) }))
	}
	mgr := session.New(layout, sessionOpts...)
	if err := mgr.Start(); err != nil {
		return err
	}
	started.push("sessions", mgr.Close)

	// One budget of failed key checks per client address for every
	// component that checks keys.
	gate := api.NewKeyGate(m, log)
	rtp := rtpingest.New(cfg.BindHost, cfg.RTPPorts.First, cfg.RTPPorts.Last,
		rtpingest.WithLogger(log), rtpingest.WithMetrics(m), rtpingest.WithReadBuffer(cfg.UDPReadBuffer), rtpingest.WithGRO(cfg.UDPGRO),
		rtpingest.WithRebindAfter(cfg.RTPRebindAfter))
	// Composites ("mixed": true) need the native ars-mixer; without it
	// the daemon records as before and refuses mixed starts clearly.
	var mixes *arsmix.Mixes
	if bin, err := mixrun.FindBinary(cfg.MixerBin); err == nil {
		mixes = arsmix.New(mgr, bin, log, arsmix.WithMetrics(m))
		started.push("live composites", noErr(mixes.Close))
	} else {
		log.Warn("no ars-mixer: mixed recordings are unavailable", "error", err)
	}
	srv := api.New(mgr, verifier, rtp, m, api.WithLogger(log), api.WithKeyGate(gate), api.WithMixes(mixes), api.WithState(st),
		api.WithConnLimits(fdPlan.MaxConns, min(cfg.HTTPMaxConnsPerIP, fdPlan.MaxConns)), api.WithIdleTimeout(cfg.HTTPIdleTimeout),
		api.WithFDGate(fdlimit.NewReserve(fdPlan.Limit, fdPlan.Reserve, func(n int) { m.FDOpen.Set(float64(n)) })))
	wh := whip.New(mgr, verifier, cfg.BindHost, cfg.WebRTCPort, whip.WithLogger(log), whip.WithMetrics(m), whip.WithKeyGate(gate),
		whip.WithPublicIP(cfg.PublicIP), whip.WithKeyframeInterval(cfg.KeyframeInterval),
		whip.WithHosts(cfg.WebRTCHosts...), whip.WithPendingLimits(cfg.WHIPMaxPending, cfg.WHIPMaxPerAddr), whip.WithICETimeout(cfg.WHIPICETimeout))
	consoleOpts := []console.Option{console.WithLogger(log), console.WithWebRTC(wh.Enabled()), console.WithKeyGate(gate),
		console.WithAdminToken(cfg.AdminToken)}
	if cfg.Dev {
		consoleOpts = append(consoleOpts, console.WithDevMode(console.DevCredentials{AppID: cfg.AppID, AppCertificate: cfg.AppCertificate}))
	}
	cons := console.New(mgr, verifier, cfg.FileRoot, consoleOpts...)

	// The cloud recording API is off without customer credentials.
	if cfg.CloudCustomerID != "" {
		if err := startCloud(cfg, log, m, mgr, verifier, srv, &started); err != nil {
			return err
		}
	}
	if err := rtp.Start(); err != nil {
		return fmt.Errorf("ARS_RTP_PORTS: %w", err)
	}
	started.push("rtp ingest", noErr(rtp.Close))
	if err := srv.ResumeJoins(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: resume joins: %w", err)
	}
	if err := srv.ResumeMixes(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: resume composites: %w", err)
	}
	if err := wh.Start(); err != nil {
		return fmt.Errorf("ARS_WEBRTC_PORT: %w", err)
	}
	started.push("webrtc ingest", noErr(wh.Close))
	wh.Mount(srv)
	cons.Mount(srv)
	if err := srv.Listen(cfg.HTTPAddr()); err != nil {
		return fmt.Errorf("PORT: %w", err)
	}
	srv.Start()
	started.push("http", srv.Close)
	if cfg.PprofAddr != "" {
		prof := pprofserver.New(cfg.PprofAddr, log)
		if err := prof.Start(); err != nil {
			return fmt.Errorf("ARS_PPROF_ADDR: %w", err)
		}
		started.push("pprof", prof.Close)
	}

	notifier := sysd.New(log)
	notifier.Ready()
	watchdogStop := notifier.Watchdog(ctx, sysd.AllHealthy(mgr.Healthy, sysd.HTTPProbe(srv.Addr(), "/healthz")))
	log.Info("ars ready", "http", srv.Addr().String(), "rtp_ports", cfg.RTPPorts.String(), "root", cfg.FileRoot)

	<-ctx.Done()
	notifier.Stopping()
	watchdogStop()
	log.Info("shutting down: finalising captures (send the signal again to force)")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-force:
			log.Warn("second signal: forcing shutdown")
			cancel()
		case <-shutdownCtx.Done():
		}
	}()
	stopErr := started.closeAll(shutdownCtx)
	started = nil
	log.Info("ars stopped")
	return stopErr
}

// planDescriptors raises the descriptor limit to the hard limit and
// shares it out: the daemon's own sockets, the reserve for capture files,
// and what is left (at most ARS_HTTP_MAX_CONNS) for HTTP clients.
func planDescriptors(cfg config.Config, log *slog.Logger, m *metrics.Metrics) (fdlimit.Plan, error) {
	log = log.With("component", "fdlimit")
	lim, err := fdlimit.Raise()
	if err != nil {
		log.Warn("could not raise the descriptor limit", "err", err, "soft", lim.Soft, "hard", lim.Hard)
	}
	// Listeners, RTP and WebRTC sockets, logs, the state files.
	base := 64 + cfg.RTPPorts.Len()
	plan, err := fdlimit.MakePlan(lim.Soft, base, cfg.FDReserve, cfg.HTTPMaxConns)
	if err != nil {
		return plan, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	log.Info("descriptor limit", "soft", lim.Soft, "hard", lim.Hard, "reserve", plan.Reserve, "http_max_conns", plan.MaxConns)
	if plan.Shrunk {
		log.Warn("the descriptor limit is too small for ARS_FD_RESERVE and ARS_HTTP_MAX_CONNS: the HTTP connection budget was shrunk (raise the hard limit, e.g. LimitNOFILE= in the unit)",
			"limit", plan.Limit, "fd_reserve", cfg.FDReserve, "reserve_used", plan.Reserve, "http_max_conns", cfg.HTTPMaxConns, "http_max_conns_used", plan.MaxConns)
	}
	m.FDLimit.Set(float64(plan.Limit))
	m.FDReserve.Set(float64(plan.Reserve))
	return plan, nil
}

// startCloud starts the Agora Cloud Recording compatible API with its
// uploader and webhook notifier, and mounts it on srv.
func startCloud(cfg config.Config, log *slog.Logger, m *metrics.Metrics, mgr *session.Manager, verifier *rdk.Verifier, srv *api.Server, started *stack) error {
	stateDir := cmp.Or(cfg.StateDir, filepath.Join(cfg.FileRoot, ".ars"))
	var cloud *cloudrec.Service
	cloudOpts := []cloudrec.Option{cloudrec.WithLogger(log)}
	if cfg.WebhookURL != "" {
		hooks := webhook.New(cfg.WebhookURL, cfg.WebhookSecret, filepath.Join(stateDir, "webhooks"), webhook.WithLogger(log))
		if err := hooks.Start(); err != nil {
			return fmt.Errorf("ARS_STATE_DIR: %w", err)
		}
		started.push("webhooks", hooks.Close)
		cloudOpts = append(cloudOpts, cloudrec.WithNotifier(hooks))
	}
	// Storage endpoints come from API callers: every upload connection
	// goes through the outbound policy (the webhook URL is the
	// operator's own setting and is not guarded).
	guard := outboundGuard(cfg, log, m)
	cloudOpts = append(cloudOpts, cloudrec.WithEndpointGuard(guard), cloudrec.WithMetrics(m))
	uploads := objstore.NewUploader(filepath.Join(stateDir, "upload-backup"), objstore.WithLogger(log),
		objstore.WithRetryInterval(cfg.CloudBackupRetry), objstore.WithResults(func(r objstore.Result) { cloud.UploadResult(r) }),
		objstore.WithTransport(guard.Transport("storage")))
	cloud = cloudrec.New(cloudrec.Config{AppID: cfg.AppID, CustomerID: cfg.CloudCustomerID, CustomerSecret: cfg.CloudCustomerSecret,
		WorkDir: filepath.Join(stateDir, "cloud"), LocalDir: cmp.Or(cfg.CloudLocalDir, filepath.Join(cfg.FileRoot, "cloud_recording")),
		ForceLocal: cfg.CloudStorage == "local", ResourceTTL: cfg.CloudResourceTTL, SegmentDuration: cfg.CloudSegment,
		MaxResources: cfg.CloudMaxResources, MaxSessions: cfg.CloudMaxSessions, MaxPerChannel: cfg.CloudMaxPerChannel,
		MixerBin: cfg.MixerBin, MaxMixes: cfg.CloudMaxMixes,
		MixMP4MaxDuration: cfg.CloudMixMP4MaxDuration, MixMP4MaxBytes: int64(cfg.CloudMixMP4MaxMB) << 20},
		mgr, verifier, srv, uploads, cloudOpts...)
	if err := uploads.Start(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	started.push("uploads", uploads.Close)
	if err := cloud.Start(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	started.push("cloud recording", cloud.Close)
	cloud.Mount(srv.Handle)
	return nil
}

// outboundGuard is the policy for connections to addresses API callers
// name: ARS_OUTBOUND_ALLOW, and the daemon's own TCP listeners refused
// on every local address, its bind and public addresses.
func outboundGuard(cfg config.Config, log *slog.Logger, m *metrics.Metrics) *netguard.Guard {
	allow, _ := netguard.ParseAllowList(cfg.OutboundAllow) // checked by config.Validate
	var ips []netip.Addr
	for _, s := range []string{cfg.BindHost, cfg.PublicIP} {
		if ip, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, ip)
		}
	}
	ports := []uint16{uint16(cfg.HTTPPort)}
	if cfg.WebRTCPort != 0 {
		ports = append(ports, uint16(cfg.WebRTCPort))
	}
	if _, p, err := net.SplitHostPort(cfg.PprofAddr); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			ports = append(ports, uint16(n))
		}
	}
	return netguard.New(netguard.WithAllowList(allow), netguard.WithSelf(ips, ports), netguard.WithLogger(log), netguard.WithMetrics(m))
}

// printDevBanner tells a newcomer the generated credentials and how to use
// them. It goes to stdout, never to the log, and shows the certificate
// only to a terminal: under systemd stdout is the journal, which must not
// hold a secret, so there it names the file to source instead.
func printDevBanner(w io.Writer, cfg config.Config, path string, created, tty bool) {
	verb := "Using"
	if created {
		verb = "Generated"
	}
	fmt.Fprintf(w, "ars: development mode (no ARS_APP_ID configured).\n%s a development app ID and certificate, stored in %s (mode 0600):\n", verb, path)
	if tty {
		fmt.Fprintf(w, "  export ARS_APP_ID=%s\n  export ARS_APP_CERTIFICATE=%s\n", cfg.AppID, cfg.AppCertificate)
	} else {
		fmt.Fprintf(w, "  set -a; . %s; set +a\n", path)
	}
	fmt.Fprintf(w, `Mint a recording key and start recording channel "demo" as uid 1:
  ars start --channel demo --uid 1 --key "$(ars key recording --channel demo --uid 1)"
Recordings go to %s. Set ARS_APP_ID and ARS_APP_CERTIFICATE for production.
`, cfg.FileRoot)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
