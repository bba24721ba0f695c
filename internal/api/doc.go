// Package api owns the daemon's HTTP surface: the ARS recording API
// (start, stop, status), plain-RTP joins, health and metrics. It validates
// every request body and maps key and session errors to HTTP statuses and
// stable snake_case error codes.
package api
