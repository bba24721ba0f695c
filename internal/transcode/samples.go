package transcode

import "math"

// Chunking: a chunk is flushed to the spool once it holds this much media
// or data, which interleaves audio and video finely enough for progressive
// playback while keeping the chunk tables small.
const (
	chunkMaxBytes    = 512 << 10
	chunkMaxDuration = 500 // milliseconds
)

type chunk struct {
	offset int64 // in the spool
	n      uint32
}

// sampleTable accumulates one track's samples: their data goes to the
// spool chunk by chunk, their sizes, durations and sync flags stay in
// memory (a few bytes per sample, so hours of media fit).
type sampleTable struct {
	sp        *spool
	timescale int64
	sizes     []uint32
	durs      []uint32 // one less than sizes until finish
	syncs     []uint32 // 1-based numbers of sync samples
	allSync   bool
	chunks    []chunk
	pend      []byte
	pendN     uint32
	pendStart int64
	last      int64 // track time of the last sample
	total     int64 // track time covered after finish
}

func newSampleTable(sp *spool, timescale int64) *sampleTable {
	return &sampleTable{sp: sp, timescale: timescale, allSync: true}
}

func (s *sampleTable) count() int { return len(s.sizes) }

// add appends a sample at track time t, which must be after the previous
// sample's: the previous sample's duration is the difference. parts are
// concatenated into the sample.
func (s *sampleTable) add(t int64, sync bool, parts ...[]byte) error {
	if n := len(s.sizes); n > 0 {
		s.durs = append(s.durs, clampDur(t-s.last))
		if s.pendN > 0 && (len(s.pend) >= chunkMaxBytes || (t-s.pendStart)*1000 >= chunkMaxDuration*s.timescale) {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	if s.pendN == 0 {
		s.pendStart = t
	}
	size := 0
	for _, p := range parts {
		s.pend = append(s.pend, p...)
		size += len(p)
	}
	s.pendN++
	s.sizes = append(s.sizes, uint32(size))
	if sync {
		s.syncs = append(s.syncs, uint32(len(s.sizes)))
	} else {
		s.allSync = false
	}
	s.last = t
	return nil
}

func (s *sampleTable) flush() error {
	if s.pendN == 0 {
		return nil
	}
	off, err := s.sp.write(s.pend)
	if err != nil {
		return err
	}
	s.chunks = append(s.chunks, chunk{offset: off, n: s.pendN})
	s.pend, s.pendN = s.pend[:0], 0
	return nil
}

// finish gives the last sample its duration and flushes.
func (s *sampleTable) finish(lastDur int64) error {
	if len(s.sizes) == 0 {
		return nil
	}
	if lastDur <= 0 {
		lastDur = 1
	}
	s.durs = append(s.durs, clampDur(lastDur))
	s.total = 0
	for _, d := range s.durs {
		s.total += int64(d)
	}
	return s.flush()
}

// lastDuration is the duration of the last finished sample, a fair guess
// for the final one.
func (s *sampleTable) lastDuration() int64 {
	if len(s.durs) == 0 {
		return 0
	}
	return int64(s.durs[len(s.durs)-1])
}

func clampDur(d int64) uint32 {
	if d < 1 {
		return 1
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}
