// Package cluster makes several ars nodes one cluster on Redis (issue 15,
// docs/cluster.md): a registry of live nodes kept by heartbeats on keys
// with a server-side TTL (so clocks need not agree), and channel
// ownership claimed atomically by a Lua script (Redis's own atomicity;
// no consensus of ours), placing a new channel on the node with the most
// free capacity by a cost model from bench/RESULTS.md.
//
// Redis is control state only: nothing here is called on the packet path,
// every call has a short timeout, and an outage stops nothing already
// running. The node keeps what it owns and, when Redis is back (or has
// lost its data), registers again and re-asserts its channels.
//
// Without a Redis URL a Cluster is one node alone: Nodes lists it and
// Claim answers it, and nothing connects anywhere.
package cluster
