package mixfeed

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
	"github.com/ars-project/ars/internal/transcode/opus"
)

// primeSpan is how much of a capture the first pass reads to settle its
// clocks (least network delay, sender reports) before its units are
// placed: the composite does not begin with the jitter a live feed has to
// learn from.
const primeSpan = 10 * time.Second

// holdback is how far behind the read position (in arrival time) a unit
// must be before it leaves its capture's queue: sender reports may move a
// stream up to transcode.MaxSyncCorrection earlier than its arrival, and
// reordering and picture assembly hold packets a little longer.
const holdback = transcode.MaxSyncCorrection + 2*time.Second

// OfflineInfo describes an offline composite's input.
type OfflineInfo struct {
	// Start is the earliest capture's start: the composite's PTS 0.
	Start time.Time
	// Duration is where the last unit ends on the composite's clock.
	Duration time.Duration
	// Participants are the sources, in the order they joined. Each
	// capture is its own source: a participant who left and came back
	// (UID_HHMMSS.tmp and a later one) is two sources with one UID, and
	// the layout, which goes by UID, shows them in one window.
	Participants []OfflineParticipant
	// Skipped lists captures left out: still being written, or unreadable.
	Skipped []string
	// MaxQueued is the most units held at once across all captures: the
	// feed's memory bound, a few seconds of media per capture whatever
	// the recording's length.
	MaxQueued int
}

// OfflineParticipant is one source of an offline composite.
type OfflineParticipant struct {
	UID     uint32
	Source  uint32
	Capture string // the capture's file name
	Video   bool
	Audio   bool
	// First and Last are the PTS of its first and last units.
	First, Last time.Duration
	VideoUnits  int
	AudioUnits  int
	// Torn says the capture ends in a damaged record (a crash); what came
	// before it is used.
	Torn bool
}

// Offline feeds t with the finished captures of the recording directory
// dir, in global PTS order: each capture is a source that joins right
// before its first unit and leaves right after its last one. PTS 0 is the
// earliest capture's start; every capture is placed by its header's start
// and its arrival times, a participant's audio and video aligned by
// their sender reports. Memory stays bounded: each capture is read as a
// stream, holding only a few seconds of units.
func Offline(dir string, t Target) (OfflineInfo, error) {
	return OfflineContext(context.Background(), dir, t)
}

// OfflineContext is Offline, stopping with ctx's error when ctx ends (the
// transcoder interrupted): the target has then had part of the units and
// no Leave for the sources still in.
func OfflineContext(ctx context.Context, dir string, t Target) (OfflineInfo, error) {
	var info OfflineInfo
	paths, err := filepath.Glob(filepath.Join(dir, "*"+storage.CaptureExt))
	if err != nil {
		return info, fmt.Errorf("mixfeed: %w", err)
	}
	sort.Strings(paths)
	var its []*fileIter
	defer func() {
		for _, it := range its {
			it.close()
		}
	}()
	for _, p := range paths {
		if live, err := storage.IsLive(p); err != nil || live {
			info.Skipped = append(info.Skipped, filepath.Base(p))
			continue
		}
		hdr, err := readHeader(p)
		if err != nil {
			info.Skipped = append(info.Skipped, filepath.Base(p))
			continue
		}
		its = append(its, &fileIter{path: p, hdr: hdr})
	}
	if len(its) == 0 {
		return info, ErrNoCaptures
	}
	info.Start = its[0].hdr.Start
	for _, it := range its {
		if it.hdr.Start.Before(info.Start) {
			info.Start = it.hdr.Start
		}
	}
	var h iterHeap
	for _, it := range its {
		it.offset = it.hdr.Start.Sub(info.Start)
		if err := it.prime(); err != nil {
			return info, err
		}
		if it.primed.units[kindVideo]+it.primed.units[kindAudio] == 0 {
			continue
		}
		if err := it.open(); err != nil {
			return info, err
		}
		if err := it.fill(); err != nil {
			return info, err
		}
		if len(it.queue) > 0 {
			h = append(h, it)
		}
	}
	if len(h) == 0 {
		return info, ErrNoMedia
	}
	heap.Init(&h)
	var nextID uint32
	for n := 0; len(h) > 0; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return info, err
			}
		}
		it := h[0]
		u := it.queue[0]
		if !it.joined {
			nextID++
			it.src = mixproto.Source{ID: nextID, UID: fmt.Sprint(it.hdr.UID),
				Video: it.primed.units[kindVideo] > 0, Audio: it.primed.units[kindAudio] > 0}
			it.joined = true
			it.first = u.pts
			t.Join(it.src)
		}
		if u.video {
			t.Video(it.src.ID, u.pts, u.vmeta, u.data)
		} else {
			t.Audio(it.src.ID, u.pts, u.data)
		}
		it.last = u.pts
		queued := 0
		for _, x := range h {
			queued += len(x.queue)
		}
		info.MaxQueued = max(info.MaxQueued, queued)
		info.Duration = max(info.Duration, time.Duration(u.pts)+u.dur)
		it.release()
		if err := it.fill(); err != nil {
			return info, err
		}
		if len(it.queue) == 0 {
			t.Leave(it.src.ID)
			heap.Pop(&h)
			info.Participants = append(info.Participants, OfflineParticipant{UID: it.hdr.UID, Source: it.src.ID,
				Capture: filepath.Base(it.path), Video: it.src.Video, Audio: it.src.Audio,
				First: time.Duration(it.first), Last: time.Duration(it.last),
				VideoUnits: it.f.units[kindVideo], AudioUnits: it.f.units[kindAudio], Torn: it.torn})
			continue
		}
		heap.Fix(&h, 0)
	}
	slices.SortFunc(info.Participants, func(a, b OfflineParticipant) int { return int(a.Source) - int(b.Source) })
	return info, nil
}

func readHeader(path string) (storage.Header, error) {
	r, err := storage.Open(path)
	if err != nil {
		return storage.Header{}, err
	}
	defer r.Close()
	return r.Header(), nil
}

// unit is one placed unit waiting in its capture's queue.
type unit struct {
	pts   int64
	dur   time.Duration
	video bool
	vmeta mixproto.VideoMeta
	data  []byte
}

// fileIter reads one capture as a stream of units in PTS order.
type fileIter struct {
	path   string
	hdr    storage.Header
	offset time.Duration // of the capture's start on the composite's clock
	r      *storage.Reader
	f      *feed
	primed *feed // the first pass's feed: clocks and unit counts
	queue  []unit
	free   [][]byte // data buffers of released units, for reuse
	readAt time.Duration
	eof    bool
	torn   bool

	joined      bool
	src         mixproto.Source
	first, last int64
	lastVideo   int64
	videoStep   time.Duration
}

// counter is the first pass's emitter: it only counts.
type counter struct{}

func (counter) video(int64, mixproto.VideoMeta, []byte) {}
func (counter) audio(int64, []byte)                     {}
func (counter) keyframeNeeded()                         {}

// prime reads the capture once to learn what it holds and to settle the
// clocks over its first primeSpan.
func (it *fileIter) prime() error {
	r, err := storage.Open(it.path)
	if err != nil {
		return err
	}
	defer r.Close()
	f := newFeed(counter{}, offlineReorderWindow, it.hdr.Streams)
	f.clock.floor, f.clock.hasFloor = 0, true
	var clocks [3]streamClock
	var ntp avClock
	snap := false
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, storage.ErrTornRecord) {
			break
		}
		if err != nil {
			return fmt.Errorf("mixfeed: %s: %w", filepath.Base(it.path), err)
		}
		if !snap && rec.At > primeSpan {
			clocks, ntp, snap = f.clocks, f.clock, true
		}
		it.record(f, rec)
	}
	f.flush()
	if !snap {
		clocks, ntp = f.clocks, f.clock
	}
	it.primed = f
	it.primed.clocks = clocks
	it.primed.clock = ntp
	return nil
}

// record hands one capture record to a feed.
func (it *fileIter) record(f *feed, rec storage.Record) {
	at := it.offset + rec.At
	switch rec.Kind {
	case storage.RecordRTP:
		f.rtp(at, rec.Data)
	case storage.RecordRTCP:
		f.rtcp(rec.Data)
	case storage.RecordStream:
		if s, err := storage.DecodeStream(rec.Data); err == nil {
			f.declare(s)
		}
	}
}

// open starts the second pass, with the clocks the first one settled.
func (it *fileIter) open() error {
	r, err := storage.Open(it.path)
	if err != nil {
		return err
	}
	it.r = r
	it.f = newFeed(it, offlineReorderWindow, it.hdr.Streams)
	for k := range it.f.clocks {
		it.f.clocks[k] = it.primed.clocks[k].preset()
	}
	it.f.clock = it.primed.clock
	return nil
}

// fill reads until the head of the queue can no longer be overtaken by a
// unit still to come, or the capture ends.
func (it *fileIter) fill() error {
	for !it.eof && (len(it.queue) == 0 || it.queue[0].pts > int64(it.readAt-holdback)) {
		rec, err := it.r.Next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, storage.ErrTornRecord):
			it.torn = err != io.EOF
			it.eof = true
			it.f.flush()
			return nil
		case err != nil:
			return fmt.Errorf("mixfeed: %s: %w", filepath.Base(it.path), err)
		}
		it.readAt = it.offset + rec.At
		it.record(it.f, rec)
	}
	return nil
}

// release drops the head of the queue, keeping its buffer.
func (it *fileIter) release() {
	it.free = append(it.free, it.queue[0].data[:0])
	it.queue[0] = unit{}
	it.queue = it.queue[1:]
	if len(it.queue) == 0 {
		it.queue = it.queue[:0:0]
	}
}

func (it *fileIter) close() {
	if it.r != nil {
		_ = it.r.Close()
	}
}

// push adds a unit to the queue in PTS order; data is copied.
func (it *fileIter) push(u unit, data []byte) {
	var buf []byte
	if n := len(it.free); n > 0 {
		buf, it.free = it.free[n-1], it.free[:n-1]
	}
	u.data = append(buf, data...)
	i := len(it.queue)
	for i > 0 && it.queue[i-1].pts > u.pts {
		i--
	}
	it.queue = slices.Insert(it.queue, i, u)
}

// The second pass's emitter.

func (it *fileIter) video(pts int64, v mixproto.VideoMeta, data []byte) {
	if it.lastVideo != 0 && pts > it.lastVideo {
		it.videoStep = time.Duration(pts - it.lastVideo)
	}
	it.lastVideo = pts
	step := it.videoStep
	if step <= 0 {
		step = 40 * time.Millisecond
	}
	it.push(unit{pts: pts, dur: step, video: true, vmeta: v}, data)
}

func (it *fileIter) audio(pts int64, data []byte) {
	n := opus.PacketSamples(data)
	it.push(unit{pts: pts, dur: time.Duration(n) * time.Second / opus.Rate}, data)
}

func (it *fileIter) keyframeNeeded() {}

// iterHeap orders captures by the PTS of their next unit.
type iterHeap []*fileIter

func (h iterHeap) Len() int { return len(h) }
func (h iterHeap) Less(i, j int) bool {
	a, b := h[i].queue[0].pts, h[j].queue[0].pts
	if a != b {
		return a < b
	}
	return strings.Compare(h[i].path, h[j].path) < 0
}
func (h iterHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *iterHeap) Push(x any)   { *h = append(*h, x.(*fileIter)) }
func (h *iterHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
