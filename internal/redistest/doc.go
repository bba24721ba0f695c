// Package redistest runs a real redis-server (the Debian package) on a
// free loopback port for tests of the Redis-backed parts (internal/state,
// internal/cluster, test/e2e): one server per test, no persistence, killed
// at the test's cleanup, and able to stop and come back on the same port to
// test an outage.
package redistest
