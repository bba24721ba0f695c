// Command arsbench runs the ars benchmarks (issue 6).
//
//	arsbench run      capacity series, floor, conversion; writes RESULTS.md and chart.png
//	arsbench conv     conversion per video codec (H.264, VP8, VP9, AV1) vs janus-pp-rec; its RESULTS.md section
//	arsbench mix      composites: ars-mixer vs the ffmpeg CLI (issue 13); its RESULTS.md section
//	arsbench loadgen  open channels on a running daemon and send paced RTP; JSON report
//	arsbench floor    the bare batched UDP receiver (used by run, in its own process)
package main
