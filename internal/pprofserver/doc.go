// Package pprofserver owns the daemon's optional profiling listener: Go's
// net/http/pprof handlers on their own loopback-only HTTP server, off unless
// ARS_PPROF_ADDR is set. Profiles reveal the program's internals (and can
// cost CPU while taken), so they never share the API's public port.
package pprofserver
