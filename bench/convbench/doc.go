// Package convbench owns the conversion benchmark: the same media,
// converted by ars' transcoder from a capture, by `ffmpeg -c copy` from
// its H.264 and Opus elementary streams, and by Janus' janus-pp-rec from
// the same RTP packets written as .mjr files, timed side by side in one
// run and judged by ffmpeg afterwards.
package convbench
