// Package metrics owns the daemon's Prometheus instruments. Every counter
// the packet path touches is resolved once at construction, so counting a
// packet is a single atomic add.
package metrics
