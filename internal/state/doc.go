// Package state keeps the control state a restart needs to carry on:
// recordings, joins and cloud recordings, each written before the
// request that made it is answered. Components see typed tables
// (NewTable) over a Backend; only this package knows how a Backend
// keeps its bytes: bbolt on the local disk (Bolt), or Redis for the
// tables the nodes of a cluster share (Redis, internal/cluster).
package state
