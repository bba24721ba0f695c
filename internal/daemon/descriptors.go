package daemon

import (
	"fmt"
	"log/slog"

	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/fdlimit"
	"github.com/ars-project/ars/internal/metrics"
)

// planDescriptors raises the descriptor limit to the hard limit and
// shares it out: the daemon's own sockets, the reserve for capture files,
// and what is left (at most ARS_HTTP_MAX_CONNS) for HTTP clients.
func planDescriptors(cfg config.Config, log *slog.Logger, m *metrics.Metrics) (fdlimit.Plan, error) {
	log = log.With("component", "fdlimit")
	lim, err := fdlimit.Raise()
	if err != nil {
		log.Warn("could not raise the descriptor limit", "err", err, "soft", lim.Soft, "hard", lim.Hard)
	}
	// Listeners, RTP and WebRTC sockets, logs, the state files.
	base := 64 + cfg.RTPPorts.Len()
	plan, err := fdlimit.MakePlan(lim.Soft, base, cfg.FDReserve, cfg.HTTPMaxConns)
	if err != nil {
		return plan, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	log.Info("descriptor limit", "soft", lim.Soft, "hard", lim.Hard, "reserve", plan.Reserve, "http_max_conns", plan.MaxConns)
	if plan.Shrunk {
		log.Warn("the descriptor limit is too small for ARS_FD_RESERVE and ARS_HTTP_MAX_CONNS: the HTTP connection budget was shrunk (raise the hard limit, e.g. LimitNOFILE= in the unit)",
			"limit", plan.Limit, "fd_reserve", cfg.FDReserve, "reserve_used", plan.Reserve, "http_max_conns", cfg.HTTPMaxConns, "http_max_conns_used", plan.MaxConns)
	}
	m.FDLimit.Set(float64(plan.Limit))
	m.FDReserve.Set(float64(plan.Reserve))
	return plan, nil
}
