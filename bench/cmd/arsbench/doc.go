// Command arsbench runs the ars benchmarks (issue 6).
//
//	arsbench run      capacity series, floor, conversion; writes RESULTS.md and chart.png
//	arsbench loadgen  open channels on a running daemon and send paced RTP; JSON report
//	arsbench floor    the bare batched UDP receiver (used by run, in its own process)
package main
