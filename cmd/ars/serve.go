package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/cloudrec"
	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/console"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
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

// run is the daemon: it wires every component by hand, reports readiness
// once all listeners are bound, and on ctx's end finalises every capture.
// A close of force cuts the graceful stop short.
func run(ctx context.Context, force <-chan struct{}, cfg config.Config, stdout, stderr io.Writer) error {
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
		printDevBanner(stdout, cfg, credPath, created)
	}
	verifier, err := rdk.NewVerifier(cfg.AppID, cfg.AppCertificate, rdk.WithMaxSkew(cfg.KeyMaxSkew))
	if err != nil {
		return fmt.Errorf("ARS_APP_ID/ARS_APP_CERTIFICATE: %w", err)
	}
	m := metrics.New()

	var pool *batch.Pool
	sessionOpts := []session.Option{
		session.WithLogger(log), session.WithMetrics(m), session.WithIdleTimeout(cfg.IdleTimeout),
	}
	if cfg.TranscodeOnStop {
		pool = batch.NewPool(batch.DefaultConverter(), log, batch.WithWorkers(cfg.TranscodeWorkers))
		pool.Start()
		sessionOpts = append(sessionOpts, session.WithCaptureClosed(func(path string) { pool.Submit(path) }))
	}
	mgr := session.New(layout, sessionOpts...)
	if err := mgr.Start(); err != nil {
		return err
	}
	rtp := rtpingest.New(cfg.BindHost, cfg.RTPPorts.First, cfg.RTPPorts.Last,
		rtpingest.WithLogger(log), rtpingest.WithMetrics(m), rtpingest.WithReadBuffer(cfg.UDPReadBuffer))
	if err := rtp.Start(); err != nil {
		_ = mgr.Close(context.Background())
		return fmt.Errorf("ARS_RTP_PORTS: %w", err)
	}
	// One budget of failed key checks per client address for every
	// component that checks keys.
	gate := api.NewKeyGate(m, log)
	srv := api.New(mgr, verifier, rtp, m, api.WithLogger(log), api.WithKeyGate(gate))
	wh := whip.New(mgr, verifier, cfg.BindHost, cfg.WebRTCPort, whip.WithLogger(log), whip.WithMetrics(m), whip.WithKeyGate(gate),
		whip.WithPublicIP(cfg.PublicIP), whip.WithKeyframeInterval(cfg.KeyframeInterval))
	if err := wh.Start(); err != nil {
		rtp.Close()
		_ = mgr.Close(context.Background())
		return fmt.Errorf("ARS_WEBRTC_PORT: %w", err)
	}
	wh.Mount(srv)
	consoleOpts := []console.Option{console.WithLogger(log), console.WithWebRTC(wh.Enabled()), console.WithKeyGate(gate)}
	if cfg.Dev {
		consoleOpts = append(consoleOpts, console.WithDevMode(console.DevCredentials{AppID: cfg.AppID, AppCertificate: cfg.AppCertificate}))
	}
	console.New(mgr, verifier, cfg.FileRoot, consoleOpts...).Mount(srv)
	// Cloud recording API (off without customer credentials).
	var cloud *cloudrec.Service
	var uploads *objstore.Uploader
	var hooks *webhook.Notifier
	if cfg.CloudCustomerID != "" {
		stateDir := cmp.Or(cfg.StateDir, filepath.Join(cfg.FileRoot, ".ars"))
		uploads = objstore.NewUploader(filepath.Join(stateDir, "upload-backup"), objstore.WithLogger(log),
			objstore.WithRetryInterval(cfg.CloudBackupRetry), objstore.WithResults(func(r objstore.Result) { cloud.UploadResult(r) }))
		cloudOpts := []cloudrec.Option{cloudrec.WithLogger(log)}
		if cfg.WebhookURL != "" {
			hooks = webhook.New(cfg.WebhookURL, cfg.WebhookSecret, filepath.Join(stateDir, "webhooks"), webhook.WithLogger(log))
			cloudOpts = append(cloudOpts, cloudrec.WithNotifier(hooks))
		}
		cloud = cloudrec.New(cloudrec.Config{AppID: cfg.AppID, CustomerID: cfg.CloudCustomerID, CustomerSecret: cfg.CloudCustomerSecret,
			WorkDir: filepath.Join(stateDir, "cloud"), LocalDir: cmp.Or(cfg.CloudLocalDir, filepath.Join(cfg.FileRoot, "cloud_recording")),
			ForceLocal: cfg.CloudStorage == "local", ResourceTTL: cfg.CloudResourceTTL, SegmentDuration: cfg.CloudSegment},
			mgr, verifier, srv, uploads, cloudOpts...)
		if err := errors.Join(uploads.Start(), cloud.Start()); err != nil {
			rtp.Close()
			_ = mgr.Close(context.Background())
			return fmt.Errorf("ARS_STATE_DIR: %w", err)
		}
		if hooks != nil {
			if err := hooks.Start(); err != nil {
				rtp.Close()
				_ = mgr.Close(context.Background())
				return fmt.Errorf("ARS_STATE_DIR: %w", err)
			}
		}
		cloud.Mount(srv.Handle)
	}
	if err := srv.Listen(cfg.HTTPAddr()); err != nil {
		rtp.Close()
		_ = mgr.Close(context.Background())
		return fmt.Errorf("PORT: %w", err)
	}
	srv.Start()
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
	var errs []error
	if err := srv.Close(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	if cloud != nil {
		if err := cloud.Close(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("cloud recording: %w", err))
		}
	}
	rtp.Close()
	if err := mgr.Close(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	if uploads != nil {
		if err := uploads.Close(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("uploads: %w", err))
		}
	}
	if hooks != nil {
		if err := hooks.Close(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("webhooks: %w", err))
		}
	}
	wh.Close()
	if pool != nil {
		if err := pool.Close(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("transcode pool: %w", err))
		}
	}
	log.Info("ars stopped")
	return errors.Join(errs...)
}

// printDevBanner tells a newcomer the generated credentials and how to use
// them. It goes to stdout, never to the log.
func printDevBanner(w io.Writer, cfg config.Config, path string, created bool) {
	verb := "Using"
	if created {
		verb = "Generated"
	}
	fmt.Fprintf(w, `ars: development mode (no ARS_APP_ID configured).
%s a development app ID and certificate, stored in %s (mode 0600):
  export ARS_APP_ID=%s
  export ARS_APP_CERTIFICATE=%s
Mint a recording key and start recording channel "demo" as uid 1:
  ars start --channel demo --uid 1 --key "$(ars key recording --channel demo --uid 1)"
Recordings go to %s. Set ARS_APP_ID and ARS_APP_CERTIFICATE for production.
`, verb, path, cfg.AppID, cfg.AppCertificate, cfg.FileRoot)
}
