package daemon

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/ars-project/ars/internal/config"
	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/netguard"
)

// outboundGuard is the policy for connections to addresses API callers
// name: ARS_OUTBOUND_ALLOW, and the daemon's own TCP listeners refused
// on every local address, its bind and public addresses.
func outboundGuard(cfg config.Config, log *slog.Logger, m *metrics.Metrics) *netguard.Guard {
	allow, _ := netguard.ParseAllowList(cfg.OutboundAllow) // checked by config.Validate
	var ips []netip.Addr
	for _, s := range []string{cfg.BindHost, cfg.PublicIP} {
		if ip, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, ip)
		}
	}
	ports := []uint16{uint16(cfg.HTTPPort)}
	if cfg.WebRTCPort != 0 {
		ports = append(ports, uint16(cfg.WebRTCPort))
	}
	if _, p, err := net.SplitHostPort(cfg.PprofAddr); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			ports = append(ports, uint16(n))
		}
	}
	return netguard.New(netguard.WithAllowList(allow), netguard.WithSelf(ips, ports), netguard.WithLogger(log), netguard.WithMetrics(m))
}
