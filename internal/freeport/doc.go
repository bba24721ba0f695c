// Package freeport finds unused loopback ports for the programs that start
// a daemon of their own: the end-to-end and deployment tests and the
// benchmark runner.
package freeport
