// Package daemon wires the recording daemon (`ars serve`) together: it
// makes every component with its dependencies, starts them in one
// explicit order and stops them in its reverse (lifecycle.go, checked by
// TestStageOrder), reports readiness to systemd once every listener is
// bound, and on the end of its context stops gracefully.
//
// The order is what a restart without loss needs: the state store first
// (everything else writes into it), the sessions (recordings resumed),
// the RTP sockets bound without reading, the joins brought back onto
// them, the cloud recorder (its recordings resumed), and only then the
// RTP readers, so that the packets the kernel queued while no daemon ran
// find their routes; the HTTP API last. Stopping, the readers stop first
// (the kernel queues for the next instance) and the captures are
// finalised after them.
package daemon
