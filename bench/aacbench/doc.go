// Package aacbench measures the Opus to AAC transcoder of individual
// MPEG-TS recordings (issue 14): the CPU one ars-mixer --audio-transcoder
// process spends per second of audio, for one stream and for many at
// once in the same process, fed as fast as it goes and in real time
// (20 ms packets, as a recording gets them), and how many individual
// recordings (one audio stream each) that leaves room for on a box.
//
// The transcoder is driven through internal/aacenc exactly as the daemon
// drives it. The input is encoded once by ffmpeg (libopus, 20 ms frames)
// and split here into packets; every step's first stream is written as
// ADTS and judged by decoding it (ffmpeg -v error -xerror silent, its
// 440 Hz tone far above an empty band).
package aacbench
