package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reasons a WHIP offer is refused before any PeerConnection exists, the
// label values of ars_webrtc_refused_total.
const (
	WebRTCRefusedPending     = "pending_full"
	WebRTCRefusedPendingAddr = "pending_per_address"
)

// WebRTC are the instruments of the WHIP sessions that have not yet
// connected (ICE and DTLS): what a client that never finishes ICE holds.
type WebRTC struct {
	// Pending is the number of WHIP sessions answered but not connected.
	Pending prometheus.Gauge
	// RefusedPending and RefusedPendingAddr count offers refused over the
	// total and the per-address caps.
	RefusedPending     prometheus.Counter
	RefusedPendingAddr prometheus.Counter
	// ICETimeouts counts sessions ended because they did not connect in
	// time.
	ICETimeouts prometheus.Counter
}

func newWebRTC(reg *prometheus.Registry) WebRTC {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ars_webrtc_refused_total", Help: "WHIP offers refused because too many sessions wait for ICE, by cap.",
	}, []string{"reason"})
	w := WebRTC{
		Pending:            prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_webrtc_pending_sessions", Help: "WHIP sessions answered that have not connected (ICE and DTLS) yet."}),
		RefusedPending:     refused.WithLabelValues(WebRTCRefusedPending),
		RefusedPendingAddr: refused.WithLabelValues(WebRTCRefusedPendingAddr),
		ICETimeouts:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_webrtc_ice_timeouts_total", Help: "WHIP sessions ended because they did not connect within ARS_WEBRTC_ICE_TIMEOUT."}),
	}
	reg.MustRegister(w.Pending, refused, w.ICETimeouts)
	return w
}
