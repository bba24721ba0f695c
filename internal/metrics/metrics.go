package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Drop causes, the label values of ars_packets_dropped_total.
const (
	DropUnknownSSRC  = "unknown_ssrc"
	DropMalformed    = "malformed"
	DropOversize     = "oversize"
	DropWrongSource  = "wrong_source"
	DropNotRecording = "not_recording"
	DropWriteFailed  = "write_failed"
	// DropQueueFull: the packet arrived while its capture file was being
	// opened and the participant's bounded wait queue was full.
	DropQueueFull = "capture_queue_full"
)

// Join refusal reasons, the label values of ars_joins_refused_total.
const (
	RefusedPerIP        = "per_ip"
	RefusedParticipants = "participants"
	RefusedChannelFull  = "channel_full"
	RefusedChannels     = "channels"
)

// Metrics holds every instrument of the daemon.
type Metrics struct {
	Registry *prometheus.Registry

	PacketsReceived prometheus.Counter
	BytesReceived   prometheus.Counter
	RTCPReceived    prometheus.Counter
	PacketsWritten  prometheus.Counter
	DropUnknownSSRC prometheus.Counter
	DropMalformed   prometheus.Counter
	DropOversize    prometheus.Counter
	DropWrongSource prometheus.Counter
	DropNotRecord   prometheus.Counter
	DropWriteFailed prometheus.Counter

	ActiveChannels     prometheus.Gauge
	RecordingChannels  prometheus.Gauge
	ActiveParticipants prometheus.Gauge
	OpenFiles          prometheus.Gauge
	WriteErrors        prometheus.Counter
	RecordingsStarted  prometheus.Counter
	RecordingsStopped  *prometheus.CounterVec
	KeyFailures        *prometheus.CounterVec
	UDPBufferBytes     prometheus.Gauge
	KernelDrops        prometheus.Counter

	// Outbound policy (internal/netguard) and cloud recording caps.
	OutboundRefused    *prometheus.CounterVec
	CloudResourcesHeld prometheus.Gauge
	CloudRecordings    prometheus.Gauge
	CloudLimitRefused  *prometheus.CounterVec
	// Cloud recording on a failing disk (internal/cloudrec).
	CloudWriteErrors   prometheus.Counter
	CloudTracksFailing prometheus.Gauge
	CloudFilesLost     prometheus.Counter
	// Composites made by ars-mixer processes (cloud mix mode and ARS
	// "mixed": true).
	MixerComposites   prometheus.Gauge
	MixerFailures     prometheus.Counter
	MixerRestarts     prometheus.Counter
	MixerDroppedUnits prometheus.Counter
	// Snapshots of cloud recordings (snapshotConfig, snapshots.go).
	CloudSnapshots      *prometheus.CounterVec
	SnapshotterRestarts prometheus.Counter

	// Durable control state and resume after a restart (issue 17).
	StateErrors       *prometheus.CounterVec
	CloudResumed      *prometheus.CounterVec
	RecordingsResumed prometheus.Counter
	JoinsResumed      *prometheus.CounterVec
	HandoverSockets   prometheus.Gauge
	// Crash buffers: capture write buffers in shared memory.
	CaptureBuffersRecovered *prometheus.CounterVec
	CaptureBufferBytes      prometheus.Counter
	CaptureBufferFallbacks  prometheus.Counter
	// WebRTC counts WHIP sessions waiting for ICE (webrtc.go).
	WebRTC WebRTC
	// AAC counts the Opus to AAC transcoders' drops and restarts (aac.go).
	AAC AAC
	// Web counts the web page recorders (web.go).
	Web Web
	// HTTP connection budget (internal/connlimit) and descriptor reserve
	// (internal/fdlimit).
	HTTPConnections prometheus.Gauge
	HTTPConnRefused *prometheus.CounterVec
	HTTPConnEvicted *prometheus.CounterVec
	FDLimit         prometheus.Gauge
	FDReserve       prometheus.Gauge
	FDOpen          prometheus.Gauge
	// Plain-RTP hardening (issue 12).
	DropQueueFull prometheus.Counter
	CaptureQueued prometheus.Counter
	PLIsSent      prometheus.Counter
	Rebinds       prometheus.Counter
	JoinsRefused  *prometheus.CounterVec
	// The cluster (issue 15, cluster.go).
	ClusterClaims            *prometheus.CounterVec
	ClusterNodes             prometheus.Gauge
	ClusterRedisUp           prometheus.Gauge
	ClusterHeartbeatFailures prometheus.Counter
	ClusterResyncs           prometheus.Counter
	ClusterClaimConflicts    prometheus.Counter
	ClusterNodesDown         prometheus.Counter
}

// New creates the instruments in a fresh registry, with the Go runtime and
// process collectors beside them.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_packets_dropped_total", Help: "Packets received but not recorded, by cause.",
	}, []string{"cause"})
	stopped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_recordings_stopped_total", Help: "Recordings ended, by reason.",
	}, []string{"reason"})
	keyFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_key_failures_total", Help: "Refused keys, by error code.",
	}, []string{"code"})
	connRefused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_http_connections_refused_total", Help: "HTTP connections refused at accept, by budget (total, per_ip, fd_reserve).",
	}, []string{"reason"})
	joinsRefused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_joins_refused_total", Help: "Joins refused by a limit, by limit.",
	}, []string{"reason"})
	m := &Metrics{
		Registry:           reg,
		PacketsReceived:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_packets_received_total", Help: "RTP and RTCP packets received."}),
		BytesReceived:      prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_bytes_received_total", Help: "Bytes of RTP and RTCP received."}),
		RTCPReceived:       prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_rtcp_packets_received_total", Help: "RTCP packets received."}),
		PacketsWritten:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_packets_written_total", Help: "Packets written to capture files or taken by a live consumer (a cloud recording, a composite)."}),
		DropUnknownSSRC:    dropped.WithLabelValues(DropUnknownSSRC),
		DropMalformed:      dropped.WithLabelValues(DropMalformed),
		DropOversize:       dropped.WithLabelValues(DropOversize),
		DropWrongSource:    dropped.WithLabelValues(DropWrongSource),
		DropNotRecord:      dropped.WithLabelValues(DropNotRecording),
		DropWriteFailed:    dropped.WithLabelValues(DropWriteFailed),
		ActiveChannels:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_active_channels", Help: "Channels with at least one participant or a recording."}),
		RecordingChannels:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_recording_channels", Help: "Channels being recorded."}),
		ActiveParticipants: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_active_participants", Help: "Participants joined."}),
		OpenFiles:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_open_capture_files", Help: "Capture files open for writing."}),
		WriteErrors:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_write_errors_total", Help: "Failed writes to capture files."}),
		RecordingsStarted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_recordings_started_total", Help: "Recordings started."}),
		RecordingsStopped:  stopped,
		KeyFailures:        keyFailures,
		UDPBufferBytes:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_udp_receive_buffer_bytes", Help: "Receive buffer the kernel granted per RTP socket."}),
		KernelDrops:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_udp_kernel_drops_total", Help: "Datagrams the kernel dropped on RTP sockets (SO_RXQ_OVFL)."}),
	}
	m.DropQueueFull = dropped.WithLabelValues(DropQueueFull)
	m.CaptureQueued = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_capture_queued_packets_total", Help: "Packets that waited in memory while their capture file was opened."})
	m.PLIsSent = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_rtp_pli_sent_total", Help: "RTCP keyframe requests (PLI) sent to plain-RTP senders."})
	m.Rebinds = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_rtp_rebinds_total", Help: "Plain-RTP streams that moved to a new source port on the same IP (NAT rebinding)."})
	m.JoinsRefused = joinsRefused
	for _, r := range []string{RefusedPerIP, RefusedParticipants, RefusedChannelFull, RefusedChannels} {
		joinsRefused.WithLabelValues(r)
	}
	reg.MustRegister(m.CaptureQueued, m.PLIsSent, m.Rebinds, joinsRefused)
	reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.PacketsReceived, m.BytesReceived, m.RTCPReceived, m.PacketsWritten, dropped,
		m.ActiveChannels, m.RecordingChannels, m.ActiveParticipants, m.OpenFiles, m.WriteErrors,
		m.RecordingsStarted, stopped, keyFailures, m.UDPBufferBytes, m.KernelDrops,
	)
	newOutboundAndCloud(m)
	m.CloudWriteErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cloud_write_errors_total",
		Help: "Failed writes of cloud recording files (HLS segments, playlists) in ARS_STATE_DIR."})
	m.CloudTracksFailing = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_cloud_tracks_failing",
		Help: "Cloud recording tracks that cannot write and wait to retry."})
	m.CloudFilesLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cloud_files_lost_total",
		Help: "Cloud recording files neither uploaded nor backed up."})
	reg.MustRegister(m.CloudWriteErrors, m.CloudTracksFailing, m.CloudFilesLost)
	newMixer(m)
	newSnapshots(m)
	newCluster(m)
	newState(m)
	m.WebRTC = newWebRTC(reg)
	m.AAC = NewAAC(reg)
	m.Web = NewWeb(reg)
	m.HTTPConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_http_connections", Help: "HTTP connections held."})
	m.HTTPConnRefused = connRefused
	m.HTTPConnEvicted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_http_connections_evicted_total", Help: "Idle HTTP connections closed to make room for a new one, by the budget that was full."}, []string{"reason"})
	m.FDLimit = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_fd_limit", Help: "The process's descriptor limit (RLIMIT_NOFILE soft limit after raising it)."})
	m.FDReserve = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_fd_reserve", Help: "Descriptors kept free for capture files: network connections are refused before they are touched."})
	m.FDOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_fd_open", Help: "Descriptors open, as last counted by the reserve check."})
	for _, r := range []string{"total", "per_ip", "fd_reserve"} {
		connRefused.WithLabelValues(r)
		m.HTTPConnEvicted.WithLabelValues(r)
	}
	reg.MustRegister(m.HTTPConnections, connRefused, m.HTTPConnEvicted, m.FDLimit, m.FDReserve, m.FDOpen)
	return m
}

// newOutboundAndCloud adds the outbound policy's and the cloud recording
// caps' instruments.
func newOutboundAndCloud(m *Metrics) {
	m.OutboundRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_outbound_refused_total", Help: "Outbound connections and URLs refused by the address policy, by purpose.",
	}, []string{"purpose"})
	m.CloudResourcesHeld = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_cloud_resources_held", Help: "Cloud recording resource IDs acquired and not yet used to start (ARS_CLOUD_MAX_RESOURCES caps them)."})
	m.CloudRecordings = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_cloud_recordings_running", Help: "Cloud recordings running (ARS_CLOUD_MAX_SESSIONS caps them)."})
	m.CloudLimitRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_cloud_limit_refused_total", Help: "Cloud recording acquires and starts refused by a cap, and requests over ARS_CLOUD_RATE_LIMIT, by limit (resources, sessions, channel, mixes, rate).",
	}, []string{"limit"})
	m.Registry.MustRegister(m.OutboundRefused, m.CloudResourcesHeld, m.CloudRecordings, m.CloudLimitRefused)
}

// newMixer adds the composites' instruments.
func newMixer(m *Metrics) {
	m.MixerComposites = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_mixer_composites",
		Help: "Live composites running, each in its own ars-mixer process (ARS_CLOUD_MAX_MIXES caps the cloud ones)."})
	m.MixerFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_mixer_failures_total",
		Help: "ars-mixer processes that died or hung before the end of their composite."})
	m.MixerRestarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_mixer_restarts_total",
		Help: "ars-mixer processes started again to continue a live composite after a failure."})
	m.MixerDroppedUnits = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_mixer_dropped_units_total",
		Help: "Video access units and audio packets not handed to a live mixer because it fell behind (counted when a composite ends)."})
	m.Registry.MustRegister(m.MixerComposites, m.MixerFailures, m.MixerRestarts, m.MixerDroppedUnits)
}

// newState adds the durable state's instruments.
func newState(m *Metrics) {
	m.StateErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_state_errors_total",
		Help: "Writes to the durable state store (ARS_STATE_DIR/state.db) that failed, by component; the request they served was refused."}, []string{"component"})
	m.RecordingsResumed = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_state_recordings_resumed_total",
		Help: "Recordings carried on in their directory after a restart."})
	m.JoinsResumed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_state_joins_resumed_total",
		Help: "Plain-RTP joins brought back after a restart, by outcome (resumed, expired, failed)."}, []string{"outcome"})
	for _, o := range []string{"resumed", "expired", "failed"} {
		m.JoinsResumed.WithLabelValues(o)
	}
	m.CloudResumed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_state_cloud_recordings_resumed_total",
		Help: "Cloud recordings brought back after a restart, by outcome (resumed; finished: its exit had begun; failed)."}, []string{"outcome"})
	for _, o := range []string{"resumed", "finished", "failed"} {
		m.CloudResumed.WithLabelValues(o)
	}
	m.HandoverSockets = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_handover_inherited_sockets",
		Help: "RTP sockets taken from systemd (socket activation) at start instead of bound: they outlive restarts."})
	m.CaptureBuffersRecovered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_capture_buffers_recovered_total",
		Help: "Crash buffers found at start, by outcome (appended: bytes the crash had left only in the buffer were added to the capture; complete: the capture had them all; failed)."}, []string{"outcome"})
	for _, o := range []string{"appended", "complete", "failed"} {
		m.CaptureBuffersRecovered.WithLabelValues(o)
	}
	m.CaptureBufferBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_capture_buffer_recovered_bytes_total",
		Help: "Bytes appended to captures from crash buffers at start: what a crash would otherwise have lost."})
	m.CaptureBufferFallbacks = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_capture_buffer_fallbacks_total",
		Help: "Captures opened with their buffer on the heap because their crash buffer could not be made (ARS_CAPTURE_BUFFER_DIR full or unwritable): a crash loses up to ARS_FLUSH_INTERVAL of them."})
	m.Registry.MustRegister(m.StateErrors, m.RecordingsResumed, m.JoinsResumed, m.CloudResumed, m.HandoverSockets,
		m.CaptureBuffersRecovered, m.CaptureBufferBytes, m.CaptureBufferFallbacks)
}
