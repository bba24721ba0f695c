package daemon

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/arsmix"
	"github.com/ars-project/ars/internal/batch"
	"github.com/ars-project/ars/internal/cloudrec"
	"github.com/ars-project/ars/internal/console"
	"github.com/ars-project/ars/internal/fdlimit"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/pprofserver"
	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/rtpingest"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/webhook"
	"github.com/ars-project/ars/internal/whip"
)

// checkFiles makes the development credentials when none are configured,
// the key verifier from the credentials, and checks that the recording
// root is writable.
func (d *Daemon) checkFiles() error {
	credPath, created, err := d.cfg.EnsureDevCredentials()
	if err != nil {
		return err
	}
	// After EnsureDevCredentials: in development mode it makes the app ID
	// and certificate the verifier needs.
	if d.verifier, err = rdk.NewVerifier(d.cfg.AppID, d.cfg.AppCertificate, rdk.WithMaxSkew(d.cfg.KeyMaxSkew)); err != nil {
		return fmt.Errorf("ARS_APP_ID/ARS_APP_CERTIFICATE: %w", err)
	}
	if err := d.layout.CheckWritable(); err != nil {
		return fmt.Errorf("AGORA_FILE_ROOT: %w", err)
	}
	if d.cfg.Dev {
		printDevBanner(d.stdout, d.cfg, credPath, created, isTerminal(d.stdout))
	}
	return nil
}

func (d *Daemon) planDescriptors() error {
	plan, err := planDescriptors(d.cfg, d.log, d.m)
	d.fdPlan = plan
	return err
}

// openState opens the durable state; with ARS_RESUME=false nothing is kept.
func (d *Daemon) openState() error {
	if !d.cfg.Resume {
		return nil
	}
	b, err := state.Open(d.stateDir)
	if err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	d.st = b
	return nil
}

func (d *Daemon) closeState(context.Context) error {
	if d.st == nil {
		return nil
	}
	return d.st.Close()
}

func (d *Daemon) startPool() error {
	if !d.cfg.TranscodeOnStop {
		return nil
	}
	d.pool = batch.NewPool(batch.DefaultConverter(), d.log, batch.WithWorkers(d.cfg.TranscodeWorkers))
	d.pool.Start()
	return nil
}

func (d *Daemon) closePool(ctx context.Context) error {
	if d.pool == nil {
		return nil
	}
	return d.pool.Close(ctx)
}

func (d *Daemon) startSessions() error {
	cfg := d.cfg
	opts := []session.Option{
		session.WithLogger(d.log), session.WithMetrics(d.m), session.WithIdleTimeout(cfg.IdleTimeout), session.WithFlushInterval(cfg.FlushInterval),
		session.WithMaxJoinsPerClient(cfg.MaxJoinsPerIP), session.WithMaxTotalParticipants(cfg.MaxParticipants),
		session.WithMaxParticipants(cfg.MaxChannelParticipants), session.WithMaxChannels(cfg.MaxChannels),
		session.WithCaptureQueue(max(cfg.CaptureQueueBytes/256, 64), cfg.CaptureQueueBytes),
	}
	if d.pool != nil {
		pool := d.pool
		opts = append(opts, session.WithCaptureClosed(func(path string) { pool.Submit(path) }))
	}
	if d.st != nil {
		opts = append(opts, session.WithState(d.st))
	}
	bufDir, err := captureBufferDir(cfg.CaptureBufferDir, d.stateDir)
	switch {
	case err != nil && cfg.CaptureBufferDir != "":
		return fmt.Errorf("ARS_CAPTURE_BUFFER_DIR: %w", err)
	case err != nil:
		d.log.Warn("no shared memory for capture buffers: a crash loses up to ARS_FLUSH_INTERVAL of every capture", "err", err)
	case bufDir == "":
		d.log.Info("capture buffers on the heap (ARS_CAPTURE_BUFFER_DIR=off): a crash loses up to ARS_FLUSH_INTERVAL of every capture")
	default:
		if !onTmpfs(bufDir) {
			d.log.Warn("ARS_CAPTURE_BUFFER_DIR is not a tmpfs: its buffers will be written back to disk", "dir", bufDir)
		}
		opts = append(opts, session.WithCrashBuffers(bufDir))
		if cfg.CaptureBufferDir == "" && strings.HasPrefix(bufDir, "/dev/shm/") {
			d.shmBufDir = bufDir
		}
	}
	d.mgr = session.New(d.layout, opts...)
	return d.mgr.Start()
}

func (d *Daemon) closeSessions(ctx context.Context) error {
	err := d.mgr.Close(ctx)
	if d.shmBufDir != "" {
		// Every capture is closed and its buffer gone: the directory the
		// daemon made in /dev/shm goes too (left if anything is still in
		// it, for the next start to recover).
		_ = os.Remove(d.shmBufDir)
	}
	return err
}

// startMixes: composites ("mixed": true) need the native ars-mixer;
// without it the daemon records as before and refuses mixed starts
// clearly.
func (d *Daemon) startMixes() error {
	bin, err := mixrun.FindBinary(d.cfg.MixerBin)
	if err != nil {
		d.log.Warn("no ars-mixer: mixed recordings are unavailable", "error", err)
		return nil
	}
	d.mixes = arsmix.New(d.mgr, bin, d.log, arsmix.WithMetrics(d.m))
	return nil
}

func (d *Daemon) closeMixes() {
	if d.mixes != nil {
		d.mixes.Close()
	}
}

// bindRTP opens the RTP ports without reading them yet.
func (d *Daemon) bindRTP() error {
	cfg := d.cfg
	d.rtp = rtpingest.New(cfg.BindHost, cfg.RTPPorts.First, cfg.RTPPorts.Last,
		rtpingest.WithLogger(d.log), rtpingest.WithMetrics(d.m), rtpingest.WithReadBuffer(cfg.UDPReadBuffer), rtpingest.WithGRO(cfg.UDPGRO),
		rtpingest.WithRebindAfter(cfg.RTPRebindAfter), rtpingest.WithInherited(d.sockets.UDP))
	if err := d.rtp.Bind(); err != nil {
		return fmt.Errorf("ARS_RTP_PORTS: %w", err)
	}
	d.m.HandoverSockets.Set(float64(d.rtp.Inherited()))
	if n := d.sockets.Count(); n > 0 {
		d.log.Warn("inherited sockets outside ARS_RTP_PORTS closed", "count", n)
	}
	d.sockets.Close()
	return nil
}

func (d *Daemon) serveRTP() error {
	d.rtp.Serve()
	return nil
}

func (d *Daemon) closeRTP() { d.rtp.Close() }

// makeAPI makes the HTTP API, the WebRTC ingest and the console; they
// listen later.
func (d *Daemon) makeAPI() error {
	cfg, log := d.cfg, d.log
	// One budget of failed key checks per client address for every
	// component that checks keys.
	d.gate = api.NewKeyGate(d.m, log)
	d.makeCluster()
	d.srv = api.New(d.mgr, d.verifier, d.rtp, d.m, api.WithLogger(log), api.WithKeyGate(d.gate), api.WithMixes(d.mixes), api.WithState(d.st),
		api.WithNodeAddress(d.cluster.Address()), api.WithConnLimits(d.fdPlan.MaxConns, min(cfg.HTTPMaxConnsPerIP, d.fdPlan.MaxConns)), api.WithIdleTimeout(cfg.HTTPIdleTimeout),
		api.WithFDGate(fdlimit.NewReserve(d.fdPlan.Limit, d.fdPlan.Reserve, func(n int) { d.m.FDOpen.Set(float64(n)) })))
	d.wh = whip.New(d.mgr, d.verifier, cfg.BindHost, cfg.WebRTCPort, whip.WithLogger(log), whip.WithMetrics(d.m), whip.WithKeyGate(d.gate),
		whip.WithPublicIP(cfg.PublicIP), whip.WithKeyframeInterval(cfg.KeyframeInterval),
		whip.WithHosts(cfg.WebRTCHosts...), whip.WithPendingLimits(cfg.WHIPMaxPending, cfg.WHIPMaxPerAddr), whip.WithICETimeout(cfg.WHIPICETimeout))
	opts := []console.Option{console.WithLogger(log), console.WithWebRTC(d.wh.Enabled()), console.WithKeyGate(d.gate),
		console.WithAdminToken(cfg.AdminToken), console.WithNodes(d.cluster)}
	if cfg.Dev {
		opts = append(opts, console.WithDevMode(console.DevCredentials{AppID: cfg.AppID, AppCertificate: cfg.AppCertificate}))
	}
	d.cons = console.New(d.mgr, d.verifier, cfg.FileRoot, opts...)
	return nil
}

// resumeJoins brings back the plain-RTP joins and the live composites of
// resumed recordings, between the RTP sockets' bind and their readers.
func (d *Daemon) resumeJoins() error {
	if err := d.srv.ResumeJoins(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: resume joins: %w", err)
	}
	if err := d.srv.ResumeMixes(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: resume composites: %w", err)
	}
	return nil
}

// cloudOn: the cloud recording API is off without customer credentials.
func (d *Daemon) cloudOn() bool { return d.cfg.CloudCustomerID != "" }

func (d *Daemon) startWebhooks() error {
	if !d.cloudOn() || d.cfg.WebhookURL == "" {
		return nil
	}
	d.hooks = webhook.New(d.cfg.WebhookURL, d.cfg.WebhookSecret, filepath.Join(d.stateDir, "webhooks"), webhook.WithLogger(d.log))
	if err := d.hooks.Start(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	return nil
}

func (d *Daemon) closeWebhooks(ctx context.Context) error {
	if d.hooks == nil {
		return nil
	}
	return d.hooks.Close(ctx)
}

// startUploads makes the uploader and, on it, the cloud recorder (which
// reports to it and hears its results); the uploader starts here, the
// recorder in the next stage.
func (d *Daemon) startUploads() error {
	if !d.cloudOn() {
		return nil
	}
	cfg := d.cfg
	// Storage endpoints come from API callers: every upload connection
	// goes through the outbound policy (the webhook URL is the
	// operator's own setting and is not guarded).
	guard := outboundGuard(cfg, d.log, d.m)
	d.upload = objstore.NewUploader(filepath.Join(d.stateDir, "upload-backup"), objstore.WithLogger(d.log),
		objstore.WithRetryInterval(cfg.CloudBackupRetry), objstore.WithTransport(guard.Transport("storage")))
	opts := []cloudrec.Option{cloudrec.WithLogger(d.log), cloudrec.WithEndpointGuard(guard), cloudrec.WithMetrics(d.m)}
	if d.hooks != nil {
		opts = append(opts, cloudrec.WithNotifier(d.hooks))
	}
	if d.st != nil {
		opts = append(opts, cloudrec.WithState(d.st))
	}
	d.cloud = cloudrec.New(cloudrec.Config{AppID: cfg.AppID, CustomerID: cfg.CloudCustomerID, CustomerSecret: cfg.CloudCustomerSecret,
		WorkDir: filepath.Join(d.stateDir, "cloud"), LocalDir: cmp.Or(cfg.CloudLocalDir, filepath.Join(cfg.FileRoot, "cloud_recording")),
		ForceLocal: cfg.CloudStorage == "local", ResourceTTL: cfg.CloudResourceTTL, SegmentDuration: cfg.CloudSegment,
		IndividualFMP4: cfg.CloudIndividualFormat == "fmp4", AACFast: cfg.CloudAACCoder == "fast",
		MaxResources: cfg.CloudMaxResources, MaxSessions: cfg.CloudMaxSessions, MaxPerChannel: cfg.CloudMaxPerChannel,
		MixerBin: cfg.MixerBin, MaxMixes: cfg.CloudMaxMixes, RateLimit: cfg.CloudRateLimit,
		MixMP4MaxDuration: cfg.CloudMixMP4MaxDuration, MixMP4MaxBytes: int64(cfg.CloudMixMP4MaxMB) << 20},
		d.mgr, d.verifier, d.srv, d.upload, opts...)
	d.upload.OnResults(d.cloud.UploadResult)
	// Loaded before the uploader starts: the backups it restores at once
	// belong to recordings that must already be known.
	if err := d.cloud.Load(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	if err := d.upload.Start(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	return nil
}

func (d *Daemon) closeUploads(ctx context.Context) error {
	if d.upload == nil {
		return nil
	}
	return d.upload.Close(ctx)
}

func (d *Daemon) startCloud() error {
	if d.cloud == nil {
		return nil
	}
	if err := d.cloud.Start(); err != nil {
		return fmt.Errorf("ARS_STATE_DIR: %w", err)
	}
	d.cloud.Mount(d.srv.Handle)
	return nil
}

func (d *Daemon) closeCloud(ctx context.Context) error {
	if d.cloud == nil {
		return nil
	}
	return d.cloud.Close(ctx)
}

func (d *Daemon) startWHIP() error {
	if err := d.wh.Start(); err != nil {
		return fmt.Errorf("ARS_WEBRTC_PORT: %w", err)
	}
	return nil
}

func (d *Daemon) closeWHIP() { d.wh.Close() }

func (d *Daemon) startHTTP() error {
	d.wh.Mount(d.srv)
	d.cons.Mount(d.srv)
	if err := d.srv.Listen(d.cfg.HTTPAddr()); err != nil {
		return fmt.Errorf("PORT: %w", err)
	}
	d.srv.Start()
	d.listening.Store(true)
	return nil
}

func (d *Daemon) closeHTTP(ctx context.Context) error { return d.srv.Close(ctx) }

func (d *Daemon) startPprof() error {
	if d.cfg.PprofAddr == "" {
		return nil
	}
	d.prof = pprofserver.New(d.cfg.PprofAddr, d.log)
	if err := d.prof.Start(); err != nil {
		return fmt.Errorf("ARS_PPROF_ADDR: %w", err)
	}
	return nil
}

func (d *Daemon) closePprof(ctx context.Context) error {
	if d.prof == nil {
		return nil
	}
	return d.prof.Close(ctx)
}
