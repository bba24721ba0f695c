// Package sysd owns the daemon's conversation with systemd: READY=1 once
// every listener is bound, WATCHDOG=1 only while the daemon makes progress,
// STOPPING=1 on shutdown. Outside systemd (no NOTIFY_SOCKET) it does nothing.
package sysd
