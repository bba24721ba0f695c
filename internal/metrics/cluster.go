package metrics

import "github.com/prometheus/client_golang/prometheus"

// Claim outcomes (the result label of ars_cluster_claims_total).
const (
	ClaimExisting = "existing" // the channel already had a live owner
	ClaimPlaced   = "placed"   // the channel was placed on a node now
	ClaimFull     = "full"     // every node was full: refused
	ClaimError    = "error"    // Redis failed or timed out
)

// newCluster adds the instruments of the cluster (internal/cluster); they
// stay at zero on a single node.
func newCluster(m *Metrics) {
	m.ClusterClaims = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ars_cluster_claims_total",
		Help: "Channel ownership claims, by result: existing, placed, full (every node full), error (Redis)."}, []string{"result"})
	for _, r := range []string{ClaimExisting, ClaimPlaced, ClaimFull, ClaimError} {
		m.ClusterClaims.WithLabelValues(r)
	}
	m.ClusterNodes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_cluster_nodes",
		Help: "Live nodes of the cluster as this node last saw them (heartbeat keys present)."})
	m.ClusterRedisUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ars_cluster_redis_up",
		Help: "1 when this node's last heartbeat reached Redis, 0 when it failed."})
	m.ClusterHeartbeatFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cluster_heartbeat_failures_total",
		Help: "Heartbeats that did not reach Redis (outage, timeout)."})
	m.ClusterResyncs = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cluster_resyncs_total",
		Help: "Times this node re-registered and re-asserted its channels after Redis lost or dropped them."})
	m.ClusterClaimConflicts = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cluster_claim_conflicts_total",
		Help: "Channels this node runs that another live node owned when it re-asserted them."})
	m.ClusterNodesDown = prometheus.NewCounter(prometheus.CounterOpts{Name: "ars_cluster_nodes_down_total",
		Help: "Nodes this node saw go from live to dead (heartbeat key expired)."})
	m.Registry.MustRegister(m.ClusterClaims, m.ClusterNodes, m.ClusterRedisUp, m.ClusterHeartbeatFailures,
		m.ClusterResyncs, m.ClusterClaimConflicts, m.ClusterNodesDown)
}
