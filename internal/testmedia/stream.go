package testmedia

import (
	"encoding/binary"
	"time"

	"github.com/ars-project/ars/internal/vcodec"
)

// Seq, Timestamp and payload offsets of a raw RTP packet. testmedia only
// handles packets it produced (no CSRC, no extension, no padding) plus the
// ones its own helpers rewrote, so fixed offsets are enough.
func seqOf(p []byte) uint16 { return binary.BigEndian.Uint16(p[2:]) }
func tsOf(p []byte) uint32  { return binary.BigEndian.Uint32(p[4:]) }

func payloadOf(p []byte) []byte {
	off := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 && len(p) >= off+4 {
		off += 4 + 4*int(binary.BigEndian.Uint16(p[off+2:]))
	}
	if off > len(p) {
		return nil
	}
	return p[off:]
}

// Frames counts distinct RTP timestamps: video frames or audio packets.
func (s Stream) Frames() int {
	seen := make(map[uint32]struct{}, len(s.Packets))
	for _, p := range s.Packets {
		seen[tsOf(p.Data)] = struct{}{}
	}
	return len(seen)
}

// FramesFrom counts distinct RTP timestamps of packets sent at or after
// packet index i.
func (s Stream) FramesFrom(i int) int {
	return Stream{Info: s.Info, Packets: s.Packets[i:]}.Frames()
}

// IsKeyframeStart reports whether an H.264 RTP packet begins an IDR
// picture or carries its parameter sets (single NAL, STAP-A or the first
// FU-A fragment).
func IsKeyframeStart(p []byte) bool {
	pl := payloadOf(p)
	if len(pl) == 0 {
		return false
	}
	switch t := pl[0] & 0x1f; t {
	case 5, 7, 8:
		return true
	case 24: // STAP-A: first aggregated NAL
		return len(pl) > 3 && (pl[3]&0x1f == 5 || pl[3]&0x1f == 7)
	case 28: // FU-A start fragment
		return len(pl) > 1 && pl[1]&0x80 != 0 && pl[1]&0x1f == 5
	}
	return false
}

// KeyframeIndexes lists the index of the first packet of every frame
// (run of packets with one timestamp) that holds an IDR picture.
func (s Stream) KeyframeIndexes() []int {
	codec := vcodec.FromName(s.Info.Codec)
	var idx []int
	start, key := 0, false
	for i, p := range s.Packets {
		if i > 0 && tsOf(p.Data) != tsOf(s.Packets[i-1].Data) {
			if key {
				idx = append(idx, start)
			}
			start, key = i, false
		}
		key = key || vcodec.IsKeyframeStart(codec, payloadOf(p.Data))
	}
	if key && len(s.Packets) > 0 {
		idx = append(idx, start)
	}
	return idx
}

// FrameDuration is the most common timestamp step between frames, as a
// duration.
func (s Stream) FrameDuration() time.Duration {
	counts := map[uint32]int{}
	var last uint32
	for i, p := range s.Packets {
		ts := tsOf(p.Data)
		if i > 0 && ts != last {
			counts[ts-last]++
		}
		last = ts
	}
	var best uint32
	for d, n := range counts {
		if n > counts[best] || (n == counts[best] && d < best) {
			best = d
		}
	}
	return time.Duration(int64(best) * int64(time.Second) / int64(s.Info.ClockRate))
}

// MediaDuration is the time the stream covers: the span of its
// timestamps plus one frame.
func (s Stream) MediaDuration() time.Duration {
	if len(s.Packets) == 0 {
		return 0
	}
	first, last := tsOf(s.Packets[0].Data), tsOf(s.Packets[len(s.Packets)-1].Data)
	return time.Duration(int64(last-first)*int64(time.Second)/int64(s.Info.ClockRate)) + s.FrameDuration()
}
