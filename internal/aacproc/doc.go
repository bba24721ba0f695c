// Package aacproc is the audio transcoder role of the ars-mixer process
// (ars-mixer --audio-transcoder): it turns the Opus packets of many
// streams into AAC-LC access units, for the MPEG-TS files of individual
// recordings, where Agora delivers AAC.
//
// It links GStreamer through cgo and therefore never runs inside the
// capture daemon: the daemon (internal/aacenc) starts one process per
// cloud recording session and speaks internal/mixproto's transcoder
// frames with it over stdin and stdout.
//
// Each stream is its own small pipeline:
//
//	appsrc (audio/x-opus) ! opusdec plc=true ! audiorate ! audioconvert !
//	audioresample ! avenc_aac ! appsink
//
// Time is kept by sample count, not by trusting the elements'
// timestamps: audiorate turns the decoded sound into one gapless stream
// from the first packet on (a hole in the input becomes concealment
// (opusdec's PLC, for short losses) or silence of exactly the hole's
// length, a packet that overlaps what came before is cut), so access unit
// k holds input samples [k*1024-P, (k+1)*1024-P), P the encoder's priming
// (1024 samples for libavcodec's AAC encoder), and its PTS is computed
// from that. Later sound never shifts against its input clock, however
// many holes came before.
package aacproc
