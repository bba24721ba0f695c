package transcode

import "time"

// TrackResult describes one track of a converted MP4.
type TrackResult struct {
	Kind  string // storage.KindVideo or storage.KindAudio
	Codec string // storage.CodecH264 or storage.CodecOpus
	// Samples counts the MP4 samples: video pictures, or Opus packets
	// including inserted silence.
	Samples  int
	Duration time.Duration
	// Width and Height are the first picture size (video only).
	Width, Height int
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
