// Package systemd holds the check of ars under a real systemd (PID 1 in a
// Debian 12 container booted with systemd-nspawn): scripts/systemd-check.sh,
// run by `make test-systemd` (not part of `make test`: it needs
// debootstrap, systemd-container and a few minutes). sdsend is its load:
// numbered RTP from inside the container.
package systemd
