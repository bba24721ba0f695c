package capacity

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
)

// Written is what the daemon's captures hold, summed over every capture
// under a root.
type Written struct {
	Captures int
	// DiskBytes is the size of the capture files.
	DiskBytes int64
	Torn      int
	// BySSRC is each stream's summary (merged when a stream spans
	// several captures).
	BySSRC map[uint32]*storage.StreamSummary
}

// ReadCaptures summarizes every capture under root.
func ReadCaptures(root string) (*Written, error) {
	w := &Written{BySSRC: map[uint32]*storage.StreamSummary{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, storage.CaptureExt) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		r, err := storage.Open(path)
		if err != nil {
			return err
		}
		sum, err := storage.Summarize(r)
		_ = r.Close()
		if err != nil {
			return err
		}
		w.Captures++
		w.DiskBytes += info.Size()
		if sum.Torn {
			w.Torn++
		}
		for _, s := range sum.Streams {
			if prev := w.BySSRC[s.SSRC]; prev != nil {
				prev.Packets += s.Packets
				prev.Bytes += s.Bytes
				prev.Gaps += s.Gaps
				prev.Duplicates += s.Duplicates
				continue
			}
			w.BySSRC[s.SSRC] = s
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return w, nil
	}
	return w, err
}

// Accounting sets what was sent against what was written.
type Accounting struct {
	Sent    uint64 `json:"sent"`
	Written uint64 `json:"written"` // unique packets of the sent streams found in captures
	Lost    uint64 `json:"lost"`
	// Extra counts packets written beyond what was sent (duplicates, or
	// streams nobody sent): it must be zero.
	Extra         uint64  `json:"extra"`
	LossPct       float64 `json:"lossPct"`
	StreamsSent   int     `json:"streamsSent"`
	StreamsLossy  int     `json:"streamsLossy"`
	WorstLossPct  float64 `json:"worstLossPct"`
	MissingStream int     `json:"missingStreams"` // sent streams with no packet written
}

// Account compares the generator's report with the captures.
func Account(rep *loadgen.Report, w *Written) Accounting {
	var a Accounting
	seen := map[uint32]bool{}
	for _, s := range rep.Streams {
		a.StreamsSent++
		a.Sent += s.Packets
		seen[s.SSRC] = true
		got := uint64(0)
		if ws := w.BySSRC[s.SSRC]; ws != nil {
			got = ws.Packets - ws.Duplicates
			a.Extra += ws.Duplicates
		} else {
			a.MissingStream++
		}
		if got > s.Packets {
			a.Extra += got - s.Packets
			got = s.Packets
		}
		a.Written += got
		if lost := s.Packets - got; lost > 0 {
			a.Lost += lost
			a.StreamsLossy++
			a.WorstLossPct = max(a.WorstLossPct, 100*float64(lost)/float64(s.Packets))
		}
	}
	for ssrc, ws := range w.BySSRC {
		if !seen[ssrc] {
			a.Extra += ws.Packets
		}
	}
	if a.Sent > 0 {
		a.LossPct = 100 * float64(a.Lost) / float64(a.Sent)
	}
	return a
}
