package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/cluster"
	"github.com/ars-project/ars/internal/netguard"
	"github.com/ars-project/ars/internal/pprofserver"
)

// Config is everything `ars serve` needs to run.
type Config struct {
	// FileRoot is AGORA_FILE_ROOT, where recordings go.
	FileRoot string
	// BindHost is the address every listener binds ("" = all interfaces).
	BindHost string
	// HTTPPort is PORT, the HTTP API port (8001 as in the guide).
	HTTPPort int
	// RTPPorts is the UDP range for plain RTP ingest (4001-4010).
	RTPPorts PortRange
	// WebRTCPort is the single UDP port all WebRTC ICE traffic shares.
	WebRTCPort int
	// PublicIP is announced in ICE candidates for servers behind 1:1 NAT.
	PublicIP string
	AppID    string
	// AppCertificate is secret: it is never logged and never taken from a flag.
	AppCertificate string
	// AppCertificateFile, when set, holds the certificate (one line).
	AppCertificateFile string
	// IdleTimeout ends participants and recordings that receive no media.
	IdleTimeout time.Duration
	// FlushInterval is how often capture buffers are handed to the
	// kernel's page cache. With crash buffers (CaptureBufferDir) a kill -9
	// loses none of them either way; without, it is what a kill -9 can
	// lose at most.
	FlushInterval time.Duration
	// CaptureBufferDir is where captures' write buffers live, in shared
	// memory that outlives the process: "" picks $RUNTIME_DIRECTORY
	// (systemd's RuntimeDirectory=) or a directory under /dev/shm; "off"
	// keeps them on the heap.
	CaptureBufferDir string
	// KeyMaxSkew is how far a DynamicKey's timestamp may be from now.
	KeyMaxSkew time.Duration
	// UDPReadBuffer is the receive buffer asked for on each UDP socket.
	UDPReadBuffer int
	// UDPGRO asks the kernel to merge a sender's back-to-back datagrams
	// (UDP generic receive offload) on the RTP ports.
	UDPGRO bool
	// TranscodeOnStop converts each capture to MP4 as soon as it closes.
	TranscodeOnStop bool
	// Resume keeps recordings and joins in ARS_STATE_DIR/state.db so that
	// the next start carries them on (false: they end with the daemon).
	Resume           bool
	TranscodeWorkers int
	// KeyframeInterval asks WebRTC senders for a keyframe this often.
	KeyframeInterval time.Duration
	// ShutdownTimeout bounds how long SIGTERM may take to finalise.
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
	// Dev is set when the daemon generated its own development credentials.
	Dev bool
	// StateDir holds the daemon's queues (uploads, webhooks) and the files
	// of running cloud recordings; empty means AGORA_FILE_ROOT/.ars.
	StateDir string
	// CloudCustomerID and CloudCustomerSecret are the Basic credentials
	// of the cloud recording API; the API is off without them. The
	// secret is environment only.
	CloudCustomerID     string
	CloudCustomerSecret string
	// CloudStorage is "request" (upload where storageConfig says) or
	// "local" (always to CloudLocalDir).
	CloudStorage string
	// CloudLocalDir is the root of local-disk storage; empty means
	// AGORA_FILE_ROOT/cloud_recording.
	CloudLocalDir string
	// CloudSegment is the HLS segment target of cloud recordings.
	CloudSegment time.Duration
	// CloudIndividualFormat is the segment format of individual mode:
	// "ts" (Agora's MPEG-TS, audio as AAC) or "fmp4" (fragmented MP4,
	// Opus kept; the format ars wrote before, and the one with MP4).
	CloudIndividualFormat string
	// CloudAACCoder is libavcodec's AAC coder of individual-mode audio:
	// "twoloop" (its default, better sound) or "fast" (about a third less
	// CPU a stream, bench/RESULTS.md).
	CloudAACCoder string
	// CloudResourceTTL is how long an acquired resource may start a
	// recording.
	CloudResourceTTL time.Duration
	// CloudBackupRetry is how often backed-up uploads are retried.
	CloudBackupRetry time.Duration
	// WebhookURL receives cloud recording notifications; WebhookSecret
	// (environment only) signs them.
	WebhookURL    string
	WebhookSecret string
	// PprofAddr, when set, serves Go's profiles on this loopback address.
	PprofAddr string
	// OutboundAllow names addresses the daemon may connect to for a user
	// despite the outbound policy (internal/netguard): IPs, CIDR prefixes
	// and host names, comma-separated.
	OutboundAllow string
	// CloudMaxResources caps acquired resource IDs not yet used to start.
	CloudMaxResources int
	// CloudMaxSessions caps running cloud recordings.
	CloudMaxSessions int
	// CloudMaxPerChannel caps running cloud recordings of one channel.
	CloudMaxPerChannel int
	// CloudRateLimit caps the cloud recording API's requests per second
	// for the app ID, as Agora's gateway does (429 past it); 0: off.
	CloudRateLimit int
	// CloudMaxMixes caps running mix-mode cloud recordings (each an
	// ars-mixer process).
	CloudMaxMixes int
	// CloudMixMP4MaxDuration and CloudMixMP4MaxMB split a mix-mode
	// recording's MP4 (Agora: about 2 GB or a few hours).
	CloudMixMP4MaxDuration time.Duration
	CloudMixMP4MaxMB       int
	// WebRTCHosts are the IPs or host names announced as ICE host
	// candidates on the WebRTC port (names are resolved at start);
	// PublicIP is added to them. Empty with no PublicIP: the bind
	// address, or the host's interface addresses.
	WebRTCHosts []string
	// MixerBin is the ars-mixer binary that makes composites; empty: next
	// to the ars executable, else on PATH.
	MixerBin string
	// WHIPMaxPending caps WHIP sessions that have not finished ICE and
	// DTLS, WHIPMaxPerAddr those of one client address.
	WHIPMaxPending int
	WHIPMaxPerAddr int
	// WHIPICETimeout is how long a WHIP session may stay pending.
	WHIPICETimeout time.Duration
	// HTTPMaxConns and HTTPMaxConnsPerIP bound the HTTP connections held
	// in total and per client address (IPv4 address or IPv6 /64).
	HTTPMaxConns      int
	HTTPMaxConnsPerIP int
	// HTTPIdleTimeout closes keep-alive connections idle this long.
	HTTPIdleTimeout time.Duration
	// FDReserve descriptors are kept free for capture files: network
	// connections are refused before they are touched.
	FDReserve int
	// AdminToken (environment or AdminTokenFile only) is the operator's
	// bearer token for the channel list.
	AdminToken     string
	AdminTokenFile string
	// MaxJoinsPerIP bounds the participants one client address may have
	// joined (0: no bound); MaxParticipants those of the server,
	// MaxChannelParticipants those of one channel, MaxChannels the
	// channels held at once.
	MaxJoinsPerIP          int
	MaxParticipants        int
	MaxChannelParticipants int
	MaxChannels            int
	// RTPRebindAfter is how long a plain-RTP source must be silent before
	// its stream may move to another port of the same IP (0: never).
	RTPRebindAfter time.Duration
	// CaptureQueueBytes bounds the first packets one participant may queue
	// while its capture file opens.
	CaptureQueueBytes int
	// ClusterRedis (environment only: it may hold a password) is the
	// cluster's Redis, redis://[user:pass@]host:port/db or rediss:// for
	// TLS; empty: a single node that connects nowhere (docs/cluster.md).
	ClusterRedis string
	// ClusterName prefixes every Redis key of the cluster.
	ClusterName string
	// NodeID names this node in the cluster (empty: the host name).
	NodeID string
	// NodeAddress is where participants and other nodes reach this node
	// (empty: ARS_PUBLIC_IP, else the first non-loopback address).
	NodeAddress string
}

// PortRange is an inclusive range of UDP ports.
type PortRange struct{ First, Last int }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Len is the number of ports in the range.
func (r PortRange) Len() int { return r.Last - r.First + 1 }

// ParsePortRange reads "4001-4010" or "4001".
func ParsePortRange(s string) (PortRange, error) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	first, err := strconv.Atoi(a)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q is not a port range like 4001-4010", s)
	}
	last := first
	if found {
		if last, err = strconv.Atoi(b); err != nil {
			return PortRange{}, fmt.Errorf("%q is not a port range like 4001-4010", s)
		}
	}
	if first < 1 || last > 65535 || first > last {
		return PortRange{}, fmt.Errorf("%q is not a valid port range", s)
	}
	return PortRange{first, last}, nil
}

// Default returns the embedded defaults.
func Default() Config {
	return Config{
		FileRoot:              "./recordings",
		HTTPPort:              8001,
		RTPPorts:              PortRange{4001, 4010},
		WebRTCPort:            8000,
		ClusterName:           "ars",
		WHIPMaxPending:        64,
		WHIPMaxPerAddr:        8,
		WHIPICETimeout:        10 * time.Second,
		IdleTimeout:           30 * time.Second,
		FlushInterval:         500 * time.Millisecond,
		KeyMaxSkew:            5 * time.Minute,
		UDPReadBuffer:         8 << 20,
		UDPGRO:                true,
		TranscodeOnStop:       true,
		Resume:                true,
		TranscodeWorkers:      1,
		KeyframeInterval:      3 * time.Second,
		ShutdownTimeout:       60 * time.Second,
		LogLevel:              "info",
		LogFormat:             "text",
		CloudStorage:          "request",
		CloudSegment:          4 * time.Second,
		CloudIndividualFormat: "ts",
		CloudAACCoder:         "twoloop",
		CloudResourceTTL:      5 * time.Minute,
		CloudBackupRetry:      30 * time.Second,

		CloudMaxResources:      1000,
		CloudMaxSessions:       200,
		CloudMaxPerChannel:     8,
		CloudMaxMixes:          16,
		CloudMixMP4MaxDuration: 3 * time.Hour,
		CloudMixMP4MaxMB:       2048,
		HTTPMaxConns:           2048,
		HTTPMaxConnsPerIP:      64,
		HTTPIdleTimeout:        15 * time.Second,
		FDReserve:              1024,
		MaxJoinsPerIP:          500,
		MaxParticipants:        10000,
		MaxChannelParticipants: 256,
		MaxChannels:            10000,
		RTPRebindAfter:         time.Second,
		CaptureQueueBytes:      256 << 10,
	}
}

// setting binds one configuration value to its environment variable and flag.
type setting struct {
	env, flag, usage string
	secret           bool // read from the environment only
	set              func(string) error
	get              func() string
}

func (c *Config) settings() []setting {
	str := func(p *string) (func(string) error, func() string) {
		return func(s string) error { *p = s; return nil }, func() string { return *p }
	}
	num := func(p *int) (func(string) error, func() string) {
		return func(s string) error {
				n, err := strconv.Atoi(s)
				if err != nil {
					return fmt.Errorf("%q is not a whole number", s)
				}
				*p = n
				return nil
			}, func() string {
				return strconv.Itoa(*p)
			}
	}
	dur := func(p *time.Duration) (func(string) error, func() string) {
		return func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30s or 5m", s)
			}
			*p = d
			return nil
		}, func() string { return p.String() }
	}
	boolean := func(p *bool) (func(string) error, func() string) {
		return func(s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%q is not true or false", s)
			}
			*p = b
			return nil
		}, func() string { return strconv.FormatBool(*p) }
	}
	ports := func(p *PortRange) (func(string) error, func() string) {
		return func(s string) error {
			r, err := ParsePortRange(s)
			if err != nil {
				return err
			}
			*p = r
			return nil
		}, func() string { return p.String() }
	}
	list := func(p *[]string) (func(string) error, func() string) {
		return func(s string) error {
			*p = nil
			for _, h := range strings.Split(s, ",") {
				if h = strings.TrimSpace(h); h != "" {
					*p = append(*p, h)
				}
			}
			return nil
		}, func() string { return strings.Join(*p, ",") }
	}
	mk := func(env, fl, usage string, secret bool, pair func() (func(string) error, func() string)) setting {
		s, g := pair()
		return setting{env: env, flag: fl, usage: usage, secret: secret, set: s, get: g}
	}
	return []setting{
		mk("AGORA_FILE_ROOT", "file-root", "directory recordings are written under", false, func() (func(string) error, func() string) { return str(&c.FileRoot) }),
		mk("ARS_BIND", "bind", "address to listen on (empty: all interfaces)", false, func() (func(string) error, func() string) { return str(&c.BindHost) }),
		mk("PORT", "port", "HTTP API port", false, func() (func(string) error, func() string) { return num(&c.HTTPPort) }),
		mk("ARS_RTP_PORTS", "rtp-ports", "UDP port range for plain RTP ingest", false, func() (func(string) error, func() string) { return ports(&c.RTPPorts) }),
		mk("ARS_WEBRTC_PORT", "webrtc-port", "UDP port shared by all WebRTC sessions (0 disables WebRTC)", false, func() (func(string) error, func() string) { return num(&c.WebRTCPort) }),
		mk("ARS_PUBLIC_IP", "public-ip", "public IP announced to WebRTC clients behind 1:1 NAT", false, func() (func(string) error, func() string) { return str(&c.PublicIP) }),
		mk("ARS_MIXER_BIN", "mixer-bin", "the ars-mixer binary that makes composites (default: next to ars, else PATH)", false, func() (func(string) error, func() string) { return str(&c.MixerBin) }),
		mk("ARS_WEBRTC_HOSTS", "webrtc-hosts", "comma-separated IPs or host names announced as WebRTC ICE candidates (names resolved at start)", false, func() (func(string) error, func() string) { return list(&c.WebRTCHosts) }),
		mk("ARS_WEBRTC_MAX_PENDING", "webrtc-max-pending", "WHIP sessions that may wait for ICE at once", false, func() (func(string) error, func() string) { return num(&c.WHIPMaxPending) }),
		mk("ARS_WEBRTC_MAX_PENDING_PER_ADDR", "webrtc-max-pending-per-addr", "WHIP sessions one client address may have waiting for ICE", false, func() (func(string) error, func() string) { return num(&c.WHIPMaxPerAddr) }),
		mk("ARS_WEBRTC_ICE_TIMEOUT", "webrtc-ice-timeout", "how long a WHIP session may take to connect (ICE and DTLS) before it is ended", false, func() (func(string) error, func() string) { return dur(&c.WHIPICETimeout) }),
		mk("ARS_APP_ID", "app-id", "Agora app ID (vendor key)", false, func() (func(string) error, func() string) { return str(&c.AppID) }),
		mk("ARS_APP_CERTIFICATE", "", "Agora app certificate (sign key); environment only", true, func() (func(string) error, func() string) { return str(&c.AppCertificate) }),
		mk("ARS_APP_CERTIFICATE_FILE", "app-cert-file", "file holding the app certificate", false, func() (func(string) error, func() string) { return str(&c.AppCertificateFile) }),
		mk("ARS_FLUSH_INTERVAL", "flush-interval", "how often capture buffers are handed to the kernel (what a kill -9 may lose when ARS_CAPTURE_BUFFER_DIR=off)", false, func() (func(string) error, func() string) { return dur(&c.FlushInterval) }),
		mk("ARS_CAPTURE_BUFFER_DIR", "capture-buffer-dir", "tmpfs directory for capture write buffers that survive a crash (default $RUNTIME_DIRECTORY/capture-buffers or /dev/shm/ars-<id>; off: heap buffers)", false, func() (func(string) error, func() string) { return str(&c.CaptureBufferDir) }),
		mk("ARS_IDLE_TIMEOUT", "idle-timeout", "silence after which a participant leaves and a recording stops", false, func() (func(string) error, func() string) { return dur(&c.IdleTimeout) }),
		mk("ARS_KEY_MAX_SKEW", "key-max-skew", "how far a dynamic key's timestamp may be from now", false, func() (func(string) error, func() string) { return dur(&c.KeyMaxSkew) }),
		mk("ARS_UDP_RCVBUF", "udp-rcvbuf", "UDP receive buffer per socket in bytes", false, func() (func(string) error, func() string) { return num(&c.UDPReadBuffer) }),
		mk("ARS_UDP_GRO", "udp-gro", "let the kernel merge a sender's back-to-back datagrams on the RTP ports (UDP GRO)", false, func() (func(string) error, func() string) { return boolean(&c.UDPGRO) }),
		mk("ARS_RESUME", "resume", "keep recordings, joins and cloud recordings in ARS_STATE_DIR/state.db and carry them on after a restart", false, func() (func(string) error, func() string) { return boolean(&c.Resume) }),
		mk("ARS_TRANSCODE_ON_STOP", "transcode-on-stop", "convert each capture to MP4 as soon as it closes", false, func() (func(string) error, func() string) { return boolean(&c.TranscodeOnStop) }),
		mk("ARS_TRANSCODE_WORKERS", "transcode-workers", "conversions the daemon runs at once", false, func() (func(string) error, func() string) { return num(&c.TranscodeWorkers) }),
		mk("ARS_KEYFRAME_INTERVAL", "keyframe-interval", "how often WebRTC senders are asked for a keyframe (0 disables)", false, func() (func(string) error, func() string) { return dur(&c.KeyframeInterval) }),
		mk("ARS_SHUTDOWN_TIMEOUT", "shutdown-timeout", "how long a graceful stop may take", false, func() (func(string) error, func() string) { return dur(&c.ShutdownTimeout) }),
		mk("ARS_LOG_LEVEL", "log-level", "debug, info, warn or error", false, func() (func(string) error, func() string) { return str(&c.LogLevel) }),
		mk("ARS_LOG_FORMAT", "log-format", "text or json", false, func() (func(string) error, func() string) { return str(&c.LogFormat) }),
		mk("ARS_STATE_DIR", "state-dir", "directory of the state store (state.db), upload and webhook queues (default AGORA_FILE_ROOT/.ars)", false, func() (func(string) error, func() string) { return str(&c.StateDir) }),
		mk("ARS_CLOUD_CUSTOMER_ID", "cloud-customer-id", "Basic auth user of the cloud recording API (unset: API off)", false, func() (func(string) error, func() string) { return str(&c.CloudCustomerID) }),
		mk("ARS_CLOUD_CUSTOMER_SECRET", "", "Basic auth password of the cloud recording API; environment only", true, func() (func(string) error, func() string) { return str(&c.CloudCustomerSecret) }),
		mk("ARS_CLOUD_STORAGE", "cloud-storage", "request (upload where storageConfig says) or local (always local disk)", false, func() (func(string) error, func() string) { return str(&c.CloudStorage) }),
		mk("ARS_CLOUD_LOCAL_DIR", "cloud-local-dir", "root of local-disk cloud recording storage (default AGORA_FILE_ROOT/cloud_recording)", false, func() (func(string) error, func() string) { return str(&c.CloudLocalDir) }),
		mk("ARS_CLOUD_SEGMENT_DURATION", "cloud-segment-duration", "HLS segment target of cloud recordings", false, func() (func(string) error, func() string) { return dur(&c.CloudSegment) }),
		mk("ARS_CLOUD_INDIVIDUAL_FORMAT", "cloud-individual-format", "segments of individual-mode cloud recordings: ts (Agora's MPEG-TS, AAC audio) or fmp4 (fragmented MP4, Opus audio, MP4 files on request)", false, func() (func(string) error, func() string) { return str(&c.CloudIndividualFormat) }),
		mk("ARS_CLOUD_AAC_CODER", "cloud-aac-coder", "AAC coder of individual-mode audio: twoloop (better sound) or fast (about a third less CPU)", false, func() (func(string) error, func() string) { return str(&c.CloudAACCoder) }),
		mk("ARS_CLOUD_RESOURCE_TTL", "cloud-resource-ttl", "how long an acquired resource ID may start a recording", false, func() (func(string) error, func() string) { return dur(&c.CloudResourceTTL) }),
		mk("ARS_CLOUD_BACKUP_RETRY", "cloud-backup-retry", "how often uploads that failed are retried", false, func() (func(string) error, func() string) { return dur(&c.CloudBackupRetry) }),
		mk("ARS_WEBHOOK_URL", "webhook-url", "URL receiving cloud recording notifications", false, func() (func(string) error, func() string) { return str(&c.WebhookURL) }),
		mk("ARS_PPROF_ADDR", "pprof-addr", "loopback address serving Go profiles at /debug/pprof/ (empty: off)", false, func() (func(string) error, func() string) { return str(&c.PprofAddr) }),
		mk("ARS_WEBHOOK_SECRET", "", "secret signing webhook notifications; environment only", true, func() (func(string) error, func() string) { return str(&c.WebhookSecret) }),
		mk("ARS_OUTBOUND_ALLOW", "outbound-allow", "IPs, CIDR prefixes and host names the daemon may upload to although private or loopback (comma-separated)", false, func() (func(string) error, func() string) { return str(&c.OutboundAllow) }),
		mk("ARS_CLOUD_MAX_RESOURCES", "cloud-max-resources", "acquired cloud recording resource IDs not yet started, at most", false, func() (func(string) error, func() string) { return num(&c.CloudMaxResources) }),
		mk("ARS_CLOUD_MAX_SESSIONS", "cloud-max-sessions", "cloud recordings running at once, at most", false, func() (func(string) error, func() string) { return num(&c.CloudMaxSessions) }),
		mk("ARS_CLOUD_MIX_MP4_MAX_DURATION", "cloud-mix-mp4-max-duration", "a mix-mode recording starts its next MP4 after this long", false, func() (func(string) error, func() string) { return dur(&c.CloudMixMP4MaxDuration) }),
		mk("ARS_CLOUD_MIX_MP4_MAX_MB", "cloud-mix-mp4-max-mb", "a mix-mode recording starts its next MP4 at this size, in MiB", false, func() (func(string) error, func() string) { return num(&c.CloudMixMP4MaxMB) }),
		mk("ARS_CLOUD_RATE_LIMIT", "cloud-rate-limit", "cloud recording API requests per second for the app ID, at most (0: no limit; Agora's is 10)", false, func() (func(string) error, func() string) { return num(&c.CloudRateLimit) }),
		mk("ARS_CLOUD_MAX_MIXES", "cloud-max-mixes", "mix-mode cloud recordings (composites, one ars-mixer each) running at once, at most", false, func() (func(string) error, func() string) { return num(&c.CloudMaxMixes) }),
		mk("ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL", "cloud-max-recorders-per-channel", "cloud recordings of one channel running at once, at most", false, func() (func(string) error, func() string) { return num(&c.CloudMaxPerChannel) }),
		mk("ARS_HTTP_MAX_CONNS", "http-max-conns", "HTTP connections held at once in total", false, func() (func(string) error, func() string) { return num(&c.HTTPMaxConns) }),
		mk("ARS_HTTP_MAX_CONNS_PER_IP", "http-max-conns-per-ip", "HTTP connections held at once per client address (IPv6: per /64)", false, func() (func(string) error, func() string) { return num(&c.HTTPMaxConnsPerIP) }),
		mk("ARS_HTTP_IDLE_TIMEOUT", "http-idle-timeout", "how long an idle keep-alive HTTP connection is kept", false, func() (func(string) error, func() string) { return dur(&c.HTTPIdleTimeout) }),
		mk("ARS_FD_RESERVE", "fd-reserve", "descriptors kept free for capture files (network connections are refused first)", false, func() (func(string) error, func() string) { return num(&c.FDReserve) }),
		mk("ARS_ADMIN_TOKEN", "", "operator bearer token for the channel list; environment only", true, func() (func(string) error, func() string) { return str(&c.AdminToken) }),
		mk("ARS_ADMIN_TOKEN_FILE", "admin-token-file", "file holding the operator token (one line)", false, func() (func(string) error, func() string) { return str(&c.AdminTokenFile) }),
		mk("ARS_MAX_JOINS_PER_IP", "max-joins-per-ip", "participants one client address may have joined (0: no limit)", false, func() (func(string) error, func() string) { return num(&c.MaxJoinsPerIP) }),
		mk("ARS_MAX_PARTICIPANTS", "max-participants", "participants the server holds at once", false, func() (func(string) error, func() string) { return num(&c.MaxParticipants) }),
		mk("ARS_MAX_CHANNEL_PARTICIPANTS", "max-channel-participants", "participants one channel holds at once", false, func() (func(string) error, func() string) { return num(&c.MaxChannelParticipants) }),
		mk("ARS_MAX_CHANNELS", "max-channels", "channels the server holds at once", false, func() (func(string) error, func() string) { return num(&c.MaxChannels) }),
		mk("ARS_CAPTURE_QUEUE_BYTES", "capture-queue-bytes", "first packets one participant may queue in memory while its capture file opens", false, func() (func(string) error, func() string) { return num(&c.CaptureQueueBytes) }),
		mk("ARS_CLUSTER_REDIS", "", "Redis of the cluster, redis://[user:pass@]host:port/db (rediss:// for TLS); empty: a single node; environment only", true, func() (func(string) error, func() string) { return str(&c.ClusterRedis) }),
		mk("ARS_CLUSTER_NAME", "cluster-name", "name of the cluster, the prefix of its Redis keys", false, func() (func(string) error, func() string) { return str(&c.ClusterName) }),
		mk("ARS_NODE_ID", "node-id", "this node's ID in the cluster (default: the host name)", false, func() (func(string) error, func() string) { return str(&c.NodeID) }),
		mk("ARS_NODE_ADDRESS", "node-address", "IP or DNS name participants and other nodes reach this node at, answered as rtpHost (default: ARS_PUBLIC_IP, else the first non-loopback address)", false, func() (func(string) error, func() string) { return str(&c.NodeAddress) }),
		mk("ARS_RTP_REBIND_AFTER", "rtp-rebind-after", "silence after which a plain-RTP stream may move to a new source port on the same IP (0: never)", false, func() (func(string) error, func() string) { return dur(&c.RTPRebindAfter) }),
	}
}

// Load builds the configuration: defaults, then the environment, then flags.
// getenv is os.Getenv in production; args are the flags after "serve".
func Load(args []string, getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	c := Default()
	settings := c.settings()
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.set(v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", s.env, err)
			}
		}
	}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		s := s
		fs.Func(s.flag, s.usage+" (env "+s.env+", default "+s.get()+")", func(v string) error {
			return s.set(v)
		})
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.AppCertificateFile != "" {
		b, err := os.ReadFile(c.AppCertificateFile)
		if err != nil {
			return Config{}, fmt.Errorf("ARS_APP_CERTIFICATE_FILE: %w", err)
		}
		c.AppCertificate = strings.TrimSpace(string(b))
	}
	if c.AdminTokenFile != "" {
		b, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			return Config{}, fmt.Errorf("ARS_ADMIN_TOKEN_FILE: %w", err)
		}
		c.AdminToken = strings.TrimSpace(string(b))
	}
	return c, c.Validate()
}

// Validate checks every setting and names the first wrong one.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	if c.FileRoot == "" {
		bad("AGORA_FILE_ROOT", "must not be empty")
	}
	if c.BindHost != "" {
		if _, err := netip.ParseAddr(c.BindHost); err != nil && c.BindHost != "localhost" {
			bad("ARS_BIND", "%q is not an IP address", c.BindHost)
		}
	}
	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		bad("PORT", "%d is not a TCP port", c.HTTPPort)
	}
	if c.WebRTCPort < 0 || c.WebRTCPort > 65535 {
		bad("ARS_WEBRTC_PORT", "%d is not a UDP port", c.WebRTCPort)
	}
	if c.WebRTCPort != 0 && c.WebRTCPort >= c.RTPPorts.First && c.WebRTCPort <= c.RTPPorts.Last {
		bad("ARS_WEBRTC_PORT", "%d lies inside ARS_RTP_PORTS %s", c.WebRTCPort, c.RTPPorts)
	}
	if c.PublicIP != "" {
		if _, err := netip.ParseAddr(c.PublicIP); err != nil {
			bad("ARS_PUBLIC_IP", "%q is not an IP address", c.PublicIP)
		}
	}
	for _, h := range c.WebRTCHosts {
		if !validHost(h) {
			bad("ARS_WEBRTC_HOSTS", "%q is not an IP address or host name", h)
		}
	}
	if c.WHIPMaxPending < 1 || c.WHIPMaxPending > 100000 {
		bad("ARS_WEBRTC_MAX_PENDING", "%d is outside 1..100000", c.WHIPMaxPending)
	}
	if c.WHIPMaxPerAddr < 1 || c.WHIPMaxPerAddr > c.WHIPMaxPending {
		bad("ARS_WEBRTC_MAX_PENDING_PER_ADDR", "%d is outside 1..ARS_WEBRTC_MAX_PENDING (%d)", c.WHIPMaxPerAddr, c.WHIPMaxPending)
	}
	if c.WHIPICETimeout < time.Second || c.WHIPICETimeout > 5*time.Minute {
		bad("ARS_WEBRTC_ICE_TIMEOUT", "%s is outside 1s..5m", c.WHIPICETimeout)
	}
	if (c.AppID == "") != (c.AppCertificate == "") {
		bad("ARS_APP_ID", "app ID and app certificate must be set together")
	}
	if c.AppID != "" && !isHex32(c.AppID) {
		bad("ARS_APP_ID", "must be 32 hexadecimal characters")
	}
	if c.AppCertificate != "" && !isHex32(c.AppCertificate) {
		bad("ARS_APP_CERTIFICATE", "must be 32 hexadecimal characters")
	}
	if c.FlushInterval < 5*time.Millisecond || c.FlushInterval > time.Second {
		bad("ARS_FLUSH_INTERVAL", "%s is outside 5ms..1s", c.FlushInterval)
	}
	if c.IdleTimeout < time.Second {
		bad("ARS_IDLE_TIMEOUT", "%s is shorter than 1s", c.IdleTimeout)
	}
	if c.KeyMaxSkew <= 0 {
		bad("ARS_KEY_MAX_SKEW", "must be positive")
	}
	if c.UDPReadBuffer < 64<<10 || c.UDPReadBuffer > 1<<30 {
		bad("ARS_UDP_RCVBUF", "%d is outside 65536..1073741824", c.UDPReadBuffer)
	}
	if c.MaxJoinsPerIP < 0 || c.MaxJoinsPerIP > 1000000 {
		bad("ARS_MAX_JOINS_PER_IP", "%d is outside 0..1000000", c.MaxJoinsPerIP)
	}
	if c.MaxParticipants < 1 || c.MaxParticipants > 1000000 {
		bad("ARS_MAX_PARTICIPANTS", "%d is outside 1..1000000", c.MaxParticipants)
	}
	if c.MaxChannelParticipants < 1 || c.MaxChannelParticipants > 100000 {
		bad("ARS_MAX_CHANNEL_PARTICIPANTS", "%d is outside 1..100000", c.MaxChannelParticipants)
	}
	if c.MaxChannels < 1 || c.MaxChannels > 1000000 {
		bad("ARS_MAX_CHANNELS", "%d is outside 1..1000000", c.MaxChannels)
	}
	if c.CaptureQueueBytes < 16<<10 || c.CaptureQueueBytes > 16<<20 {
		bad("ARS_CAPTURE_QUEUE_BYTES", "%d is outside 16384..16777216", c.CaptureQueueBytes)
	}
	if c.RTPRebindAfter < 0 || c.RTPRebindAfter > time.Minute {
		bad("ARS_RTP_REBIND_AFTER", "%s is outside 0..1m", c.RTPRebindAfter)
	}
	if c.TranscodeWorkers < 1 || c.TranscodeWorkers > 64 {
		bad("ARS_TRANSCODE_WORKERS", "%d is outside 1..64", c.TranscodeWorkers)
	}
	if c.KeyframeInterval < 0 {
		bad("ARS_KEYFRAME_INTERVAL", "must not be negative")
	}
	if c.ShutdownTimeout < time.Second {
		bad("ARS_SHUTDOWN_TIMEOUT", "%s is shorter than 1s", c.ShutdownTimeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("ARS_LOG_LEVEL", "%q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("ARS_LOG_FORMAT", "%q is not text or json", c.LogFormat)
	}
	if (c.CloudCustomerID == "") != (c.CloudCustomerSecret == "") {
		bad("ARS_CLOUD_CUSTOMER_ID", "customer ID and customer secret must be set together")
	}
	if c.CloudIndividualFormat != "ts" && c.CloudIndividualFormat != "fmp4" {
		bad("ARS_CLOUD_INDIVIDUAL_FORMAT", "%q is not ts or fmp4", c.CloudIndividualFormat)
	}
	if c.CloudAACCoder != "twoloop" && c.CloudAACCoder != "fast" {
		bad("ARS_CLOUD_AAC_CODER", "%q is not twoloop or fast", c.CloudAACCoder)
	}
	if c.CloudStorage != "request" && c.CloudStorage != "local" {
		bad("ARS_CLOUD_STORAGE", "%q is not request or local", c.CloudStorage)
	}
	if c.CloudSegment < time.Second || c.CloudSegment > time.Minute {
		bad("ARS_CLOUD_SEGMENT_DURATION", "%s is outside 1s..1m", c.CloudSegment)
	}
	if c.CloudResourceTTL < time.Second {
		bad("ARS_CLOUD_RESOURCE_TTL", "%s is shorter than 1s", c.CloudResourceTTL)
	}
	if c.CloudBackupRetry < 100*time.Millisecond {
		bad("ARS_CLOUD_BACKUP_RETRY", "%s is shorter than 100ms", c.CloudBackupRetry)
	}
	if c.PprofAddr != "" {
		if err := pprofserver.CheckAddr(c.PprofAddr); err != nil {
			bad("ARS_PPROF_ADDR", "%v", err)
		}
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("ARS_WEBHOOK_URL", "%q is not an http(s) URL", c.WebhookURL)
		}
		if c.WebhookSecret == "" {
			bad("ARS_WEBHOOK_SECRET", "must be set with ARS_WEBHOOK_URL")
		}
	}
	if _, err := netguard.ParseAllowList(c.OutboundAllow); err != nil {
		bad("ARS_OUTBOUND_ALLOW", "%v", err)
	}
	if c.CloudMaxResources < 1 || c.CloudMaxResources > 1_000_000 {
		bad("ARS_CLOUD_MAX_RESOURCES", "%d is outside 1..1000000", c.CloudMaxResources)
	}
	if c.CloudMaxSessions < 1 || c.CloudMaxSessions > 100_000 {
		bad("ARS_CLOUD_MAX_SESSIONS", "%d is outside 1..100000", c.CloudMaxSessions)
	}
	if c.CloudMixMP4MaxDuration < 5*time.Second || c.CloudMixMP4MaxDuration > 24*time.Hour {
		bad("ARS_CLOUD_MIX_MP4_MAX_DURATION", "%s is outside 5s..24h", c.CloudMixMP4MaxDuration)
	}
	if c.CloudMixMP4MaxMB < 1 || c.CloudMixMP4MaxMB > 1<<20 {
		bad("ARS_CLOUD_MIX_MP4_MAX_MB", "%d is outside 1..1048576", c.CloudMixMP4MaxMB)
	}
	if c.CloudRateLimit < 0 || c.CloudRateLimit > 1_000_000 {
		bad("ARS_CLOUD_RATE_LIMIT", "%d is outside 0..1000000", c.CloudRateLimit)
	}
	if c.CloudMaxMixes < 1 || c.CloudMaxMixes > 10_000 {
		bad("ARS_CLOUD_MAX_MIXES", "%d is outside 1..10000", c.CloudMaxMixes)
	}
	if c.CloudMaxPerChannel < 1 || c.CloudMaxPerChannel > c.CloudMaxSessions {
		bad("ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL", "%d is outside 1..ARS_CLOUD_MAX_SESSIONS (%d)", c.CloudMaxPerChannel, c.CloudMaxSessions)
	}
	if c.HTTPMaxConns < 16 || c.HTTPMaxConns > 1<<20 {
		bad("ARS_HTTP_MAX_CONNS", "%d is outside 16..1048576", c.HTTPMaxConns)
	}
	if c.HTTPMaxConnsPerIP < 1 || c.HTTPMaxConnsPerIP > c.HTTPMaxConns {
		bad("ARS_HTTP_MAX_CONNS_PER_IP", "%d is outside 1..ARS_HTTP_MAX_CONNS (%d)", c.HTTPMaxConnsPerIP, c.HTTPMaxConns)
	}
	if c.HTTPIdleTimeout < time.Second || c.HTTPIdleTimeout > 2*time.Minute {
		bad("ARS_HTTP_IDLE_TIMEOUT", "%s is outside 1s..2m", c.HTTPIdleTimeout)
	}
	if c.FDReserve < 0 || c.FDReserve > 1<<20 {
		bad("ARS_FD_RESERVE", "%d is outside 0..1048576", c.FDReserve)
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		bad("ARS_ADMIN_TOKEN", "must be at least 16 characters")
	}
	if c.ClusterRedis != "" {
		// cluster.ParseURL's errors never hold the URL (its password).
		if _, err := cluster.ParseURL(c.ClusterRedis); err != nil {
			bad("ARS_CLUSTER_REDIS", "%v", err)
		}
	}
	if !validName(c.ClusterName) {
		bad("ARS_CLUSTER_NAME", "%q: 1..64 letters, digits, '-', '_' or '.'", c.ClusterName)
	}
	if c.NodeID != "" && !validName(c.NodeID) {
		bad("ARS_NODE_ID", "%q: 1..64 letters, digits, '-', '_' or '.'", c.NodeID)
	}
	if c.NodeAddress != "" && !validHost(c.NodeAddress) {
		bad("ARS_NODE_ADDRESS", "%q is not an IP address or host name", c.NodeAddress)
	}
	return errors.Join(errs...)
}

// validHost accepts an IP address or a DNS name (letters, digits,
// hyphens and dots, labels of 1..63 characters); whether a name resolves
// is checked when the WebRTC ingest starts.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validName: a cluster or node name goes into Redis keys and logs.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// HTTPAddr is the HTTP listen address.
func (c Config) HTTPAddr() string {
	return joinHostPort(c.BindHost, c.HTTPPort)
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// UDPAddr is the listen address of one UDP port.
func (c Config) UDPAddr(port int) string { return joinHostPort(c.BindHost, port) }
