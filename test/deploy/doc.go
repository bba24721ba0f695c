// Package deploy tests the installation of ars as an operator meets it:
// deploy.sh staged into a directory (files, modes, intended owners, where
// the certificate may and may not be), the staged daemon recording a
// channel with the staged configuration, the staged hourly job converting
// it, the systemd units (systemd-analyze), the sd_notify conversation of a
// real daemon (READY=1, WATCHDOG=1, STOPPING=1), and the Debian package:
// its contents, and, when the tests run as root, installing, upgrading and
// purging it with dpkg.
//
// Only the dpkg test touches the real system, and only when no ars package,
// user or directory exists before it; it removes what it installed.
package deploy
