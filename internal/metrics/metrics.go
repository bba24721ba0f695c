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

	// Plain-RTP hardening (issue 12).
	DropQueueFull prometheus.Counter
	CaptureQueued prometheus.Counter
	PLIsSent      prometheus.Counter
	Rebinds       prometheus.Counter
	JoinsRefused  *prometheus.CounterVec
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
	joinsRefused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_joins_refused_total", Help: "Joins refused by a limit, by limit.",
	}, []string{"reason"})
	m := &Metrics{
		Registry:           reg,
		PacketsReceived:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_packets_received_total", Help: "RTP and RTCP packets received."}),
		BytesReceived:      prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_bytes_received_total", Help: "Bytes of RTP and RTCP received."}),
		RTCPReceived:       prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_rtcp_packets_received_total", Help: "RTCP packets received."}),
		PacketsWritten:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_packets_written_total", Help: "Packets written to capture files."}),
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
	return m
}
