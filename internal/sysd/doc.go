// Package sysd owns the daemon's conversation with systemd (sd_notify):
// READY=1 once every listener is bound, WATCHDOG=1 only while the daemon's
// health checks pass (the capture loop ticks and the HTTP API answers), and
// STOPPING=1 on shutdown, after which no WATCHDOG=1 is ever sent. Outside
// systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC) every call does nothing, so
// the same binary runs unchanged from a shell.
package sysd
