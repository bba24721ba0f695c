package transcode

import "time"

// TrackResult describes one track of a converted MP4.
type TrackResult struct {
	Kind  string // storage.KindVideo or storage.KindAudio
	Codec string // a storage.Codec* name: H264, VP8, VP9, AV1 or opus
	// Samples counts the MP4 samples: video pictures, or Opus packets
	// including inserted silence.
	Samples  int
	Duration time.Duration
	// Width and Height are the first picture size (video only).
	Width, Height int
	// Rotation (clockwise degrees) and Flip are how the track's display
	// matrix shows the picture: the sender's camera orientation (CVO).
	// A video whose orientation changed has one track per orientation.
	Rotation int
	Flip     bool
}

// Result reports what a conversion did.
type Result struct {
	// MediaDuration is the movie duration: the end of the track that ends
	// last, start offsets included.
	MediaDuration time.Duration
	Tracks        []TrackResult
	// Bytes is the size of the MP4 written.
	Bytes int64
	// Torn is set when the capture was cut or damaged; everything before
	// the damage was converted.
	Torn bool
	// Packets counts the RTP packets read; Dropped those that did not end
	// up in the MP4 (duplicates, late, unknown streams, undecodable
	// pictures, video before the first keyframe).
	Packets, Dropped int
}
