package metrics

import "github.com/prometheus/client_golang/prometheus"

// Snapshot outcomes (the outcome label of ars_cloud_snapshots_total).
const (
	SnapshotTaken   = "taken"   // a JPEG written and handed to the uploader
	SnapshotDropped = "dropped" // a keyframe not handed on: the snapshotter's queue was full or it is down
	SnapshotFailed  = "failed"  // the snapshotter gave no JPEG (no picture, too large, crashed) or it was not written
)

// newSnapshots adds the instruments of cloud recording snapshots.
func newSnapshots(m *Metrics) {
	m.CloudSnapshots = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_cloud_snapshots_total",
		Help: "Cloud recording snapshots (snapshotConfig), by outcome: taken, dropped (queue full), failed."}, []string{"outcome"})
	for _, o := range []string{SnapshotTaken, SnapshotDropped, SnapshotFailed} {
		m.CloudSnapshots.WithLabelValues(o)
	}
	m.SnapshotterRestarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_snapshotter_restarts_total",
		Help: "ars-mixer --snapshotter processes started again after one died or hung."})
	m.Registry.MustRegister(m.CloudSnapshots, m.SnapshotterRestarts)
}
