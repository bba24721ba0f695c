package metrics

import "github.com/prometheus/client_golang/prometheus"

// AAC are the instruments of the Opus to AAC transcoders (internal/aacenc,
// one ars-mixer --audio-transcoder process per cloud recording session).
type AAC struct {
	// Dropped counts Opus packets not handed to a transcoder: its queue
	// was full, the packet too large, or its stream closing.
	Dropped prometheus.Counter
	// Restarts counts transcoder processes started again after one died
	// or hung.
	Restarts prometheus.Counter
}

// NewAAC makes the transcoders' instruments and registers them on reg
// (nil: unregistered, as tests and tools use them).
func NewAAC(reg *prometheus.Registry) AAC {
	a := AAC{
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_aac_dropped_packets_total",
			Help: "Opus packets not handed to an Opus-to-AAC transcoder: its queue was full, the packet too large or its stream closing."}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_aac_restarts_total",
			Help: "Opus-to-AAC transcoder processes started again after one died or hung (its streams have a gap)."}),
	}
	if reg != nil {
		reg.MustRegister(a.Dropped, a.Restarts)
	}
	return a
}
