package metrics

import "github.com/prometheus/client_golang/prometheus"

// Web are the instruments of the web page recorders (internal/webrun, one
// ars-mixer --web-recorder process tree per web recording).
type Web struct {
	// Active is the web recorders running now.
	Active prometheus.Gauge
	// Failures counts recorders that failed: died, hung, a page that
	// never became ready or went over its memory limit.
	Failures prometheus.Counter
	// Restarts counts recorders started again after one failed.
	Restarts prometheus.Counter
	// Files counts the output files the recorders reported.
	Files prometheus.Counter
}

// NewWeb makes the web recorders' instruments and registers them on reg
// (nil: unregistered, as tests and tools use them).
func NewWeb(reg *prometheus.Registry) Web {
	w := Web{
		Active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_web_recorders_active",
			Help: "Web page recorders (Chromium on Xvfb) running now."}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_web_recorder_failures_total",
			Help: "Web page recorders that died, hung, whose page never became ready or exceeded its memory limit."}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_web_recorder_restarts_total",
			Help: "Web page recorders started again after one failed (the page reloads; the outputs have a gap)."}),
		Files: prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_web_recorder_files_total",
			Help: "Output files (TS segments, MP4) the web page recorders finished."}),
	}
	if reg != nil {
		reg.MustRegister(w.Active, w.Failures, w.Restarts, w.Files)
	}
	return w
}
