package main

import (
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/loadgen"
)

type results struct {
	Started time.Time
	Elapsed time.Duration
	Media   loadgen.Media
	Tracks  loadgen.Tracks
	Opts    allOptions
	Steps   []*capacity.Step
}

func (r *results) write() error { return nil }
