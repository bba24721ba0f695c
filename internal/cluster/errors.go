package cluster

import "errors"

// ErrAllFull is returned by Claim when every live node is full: the API
// maps it to 503 with a code.
var ErrAllFull = errors.New("cluster: every node is full")

// ErrUnavailable wraps a Redis failure or timeout: new placements wait for
// Redis, what runs goes on.
var ErrUnavailable = errors.New("cluster: redis unavailable")

// ErrNotOwner is returned by Release for a channel this node does not own.
var ErrNotOwner = errors.New("cluster: channel not owned by this node")

// ErrBadURL is returned for an ARS_CLUSTER_REDIS that is not a redis:// or
// rediss:// URL; its message never holds the password.
var ErrBadURL = errors.New("cluster: bad redis URL")
