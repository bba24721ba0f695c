package daemon

import (
	"cmp"
	"context"
	"os"
	"runtime/debug"

	"github.com/ars-project/ars/internal/cluster"
)

// makeCluster makes the node's membership. Without ARS_CLUSTER_REDIS it is
// a single node that connects nowhere (it answers GET /v1/cluster/nodes
// and the join's rtpHost); with it, the "cluster" stage starts it.
func (d *Daemon) makeCluster() {
	cfg := d.cfg
	id := cfg.NodeID
	if id == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "ars"
		}
		id = h
	}
	addr := cmp.Or(cfg.NodeAddress, cluster.DefaultAddress(cfg.PublicIP, cfg.BindHost))
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	mgr, mixes := d.mgr, d.mixes
	d.cluster = cluster.New(cluster.Config{RedisURL: cfg.ClusterRedis, Name: cfg.ClusterName, NodeID: id, NodeAddress: addr,
		APIPort: cfg.HTTPPort, RTPPorts: cfg.RTPPorts.String(), WebRTCPort: cfg.WebRTCPort},
		cluster.WithLogger(d.log), cluster.WithMetrics(d.m), cluster.WithVersion(version),
		cluster.WithLimits(cfg.MaxChannels, cfg.MaxParticipants),
		cluster.WithCounts(func() cluster.Counts {
			n := cluster.Counts{Composites: mixes.Count()}
			for _, st := range mgr.Channels() {
				n.Channels++
				n.Participants += len(st.Users)
			}
			return n
		}),
		cluster.WithLocalChannels(func() []string {
			var out []string
			for _, st := range mgr.Channels() {
				out = append(out, st.Channel)
			}
			return out
		}))
}

func (d *Daemon) startCluster() error { return d.cluster.Start() }

func (d *Daemon) closeCluster(ctx context.Context) error { return d.cluster.Close(ctx) }
