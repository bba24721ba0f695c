package cloudrec

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/mixfeed"
	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/mixrun"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

// Mix mode: the channel's subscribed participants go through a
// mixfeed.Live into one composite made by an ars-mixer process
// (internal/mixrun), laid out by internal/layout. The mixer writes the
// TS segments and MP4 files into the work dir and reports each; the
// recorder's worker keeps the playlist and uploads every file as
// individual mode does.

// trackMixed is the trackType of a composite's files.
const trackMixed = "audio_and_video"

// mixDelayMs is how far the live composite runs behind its inputs, so
// that network jitter and the pipe still make each frame.
const mixDelayMs = 500

// MP4 files of a composite split by default at Agora's limits (about 2
// GB or 3 h).
const (
	mixMP4MaxBytes    = 2 << 30
	mixMP4MaxDuration = 3 * time.Hour
)

// mixCloseTimeout bounds how long the mixer may take to finalise its
// files at the end of a recording before it is killed.
const mixCloseTimeout = 30 * time.Second

// mixState is a mix-mode recorder's composite.
type mixState struct {
	comp     *mixrun.Composite
	live     *mixfeed.Live
	arr      *arranger
	playlist *mixrun.Playlist
	files    chan mixproto.FileClosed
	subs     atomic.Pointer[subscription]
	// disco marks the next segment as the first of a new mixer (after a
	// restart): the playlist says #EXT-X-DISCONTINUITY before it.
	disco    atomic.Bool
	originMs int64
	// firstSeg is the wall-clock start of the first segment (worker only).
	firstSeg time.Time
	// seen is who the webhook was last told is in the composite
	// (worker only).
	seen map[uint32]mixfeed.Member
}

// arranger sits between the feed and the composite's mixrun.Arranger:
// it drops the media the subscriptions exclude (on the packet path,
// without a lock) and gives a window only to users whose video is
// subscribed.
type arranger struct {
	*mixrun.Arranger
	subs               *atomic.Pointer[subscription]
	audioOff, videoOff bool
	// uids maps sources to uids, copied on write (joins are rare, units
	// are not) under jmu.
	jmu  sync.Mutex
	uids atomic.Pointer[map[uint32]uint32]
}

func newArranger(c *mixrun.Composite, subs *atomic.Pointer[subscription], cfg layout.Config, audioOff, videoOff bool) *arranger {
	a := &arranger{subs: subs, audioOff: audioOff, videoOff: videoOff}
	m := map[uint32]uint32{}
	a.uids.Store(&m)
	a.Arranger = mixrun.NewArranger(c, cfg, mixrun.WithVisible(func(s mixproto.Source) bool {
		return !a.videoOff && a.subs.Load().video.wants((*a.uids.Load())[s.ID])
	}))
	return a
}

// Join implements mixfeed.Target.
func (a *arranger) Join(s mixproto.Source) {
	uid, _ := strconv.ParseUint(s.UID, 10, 32)
	a.jmu.Lock()
	old := *a.uids.Load()
	m := make(map[uint32]uint32, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[s.ID] = uint32(uid)
	a.uids.Store(&m)
	a.jmu.Unlock()
	a.Arranger.Join(s)
}

// Video implements mixfeed.Target.
func (a *arranger) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	if a.videoOff {
		return
	}
	if uid, ok := (*a.uids.Load())[id]; ok && a.subs.Load().video.wants(uid) {
		a.Arranger.Video(id, pts, v, au)
	}
}

// Audio implements mixfeed.Target.
func (a *arranger) Audio(id uint32, pts int64, pkt []byte) {
	if a.audioOff {
		return
	}
	if uid, ok := (*a.uids.Load())[id]; ok && a.subs.Load().audio.wants(uid) {
		a.Arranger.Audio(id, pts, pkt)
	}
}

// mixName is the base of a composite's file names: <sid>_<cname>, and
// after the n-th restart bak<n-1>_<sid>_<cname>, as Agora names the files
// of a recording that moved to another server (the new composite's
// playlist is a new one; the earlier ones stay listed).
func (r *recorder) mixName() string {
	if r.failovers > 0 {
		return "bak" + strconv.Itoa(r.failovers-1) + "_" + r.sid + "_" + r.cname
	}
	return r.sid + "_" + r.cname
}

// startMix runs the composite; the sink is added afterwards.
func (r *recorder) startMix() error {
	ms := r.settings.mix
	dir, err := filepath.Abs(r.dir)
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	wall, mono, err := mixfeed.NewOrigin()
	if err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	seg := int((r.svc.cfg.SegmentDuration + time.Second - 1) / time.Second)
	if seg < 1 {
		seg = 10
	}
	name := r.mixName()
	cfg := mixproto.Config{Live: true, OriginMonotonic: mono, OriginUnixMs: wall.UnixMilli(), DelayMs: mixDelayMs,
		Video: ms.canvas, Audio: ms.audio, Layout: mixproto.Layout{Background: ms.layout.Background, Windows: []mixproto.Window{}},
		OutDir: dir, HLS: &mixproto.HLSOutput{Prefix: name, SegmentSeconds: seg}}
	if r.settings.mp4 {
		cfg.MP4 = &mixproto.MP4Output{Pattern: name + "_%d.mp4", MaxBytes: r.svc.cfg.MixMP4MaxBytes,
			MaxSeconds: max(1, int(r.svc.cfg.MixMP4MaxDuration/time.Second))}
	}
	m := &mixState{files: make(chan mixproto.FileClosed, 1024), originMs: cfg.OriginUnixMs,
		playlist: mixrun.NewPlaylist(r.dir, name+".m3u8")}
	subs := r.subs
	m.subs.Store(&subs)
	log := r.svc.log.With("sid", r.sid, "cname", r.cname)
	opts := []mixrun.Option{mixrun.WithLogger(log),
		mixrun.WithOnFile(func(fc mixproto.FileClosed) { m.files <- fc }),
		mixrun.WithOnFailure(func(err error, restarting bool) {
			m.disco.Store(true)
			r.mixFailed(err, restarting)
		}),
		mixrun.WithOnKeyframeNeeded(func(uint32) {
			if l := m.live; l != nil {
				l.RequestKeyframes()
			}
		})}
	if r.svc.cfg.MixerBin != "" {
		opts = append(opts, mixrun.WithBinary(r.svc.cfg.MixerBin))
	}
	comp, err := mixrun.New(cfg, opts...)
	if err != nil {
		return fmt.Errorf("composite: %w", err)
	}
	m.comp = comp
	m.arr = newArranger(comp, &m.subs, ms.layout, r.settings.audioOff, r.settings.videoOff)
	self := r.uid
	m.seen = map[uint32]mixfeed.Member{}
	m.live = mixfeed.NewLive(m.arr, wall, mixfeed.WithLogger(log), mixfeed.WithOnMembership(func() {
		// On the packet path: the worker sends the events.
		select {
		case r.in <- item{kind: itemMembership}:
		default:
		}
	}), mixfeed.WithFilter(func(p *session.Participant, _ storage.RecordKind) bool {
		uid := p.UID()
		if uid == self {
			return false
		}
		s := m.subs.Load()
		return (!r.settings.audioOff && s.audio.wants(uid)) || (!r.settings.videoOff && s.video.wants(uid))
	}))
	if err := comp.Start(); err != nil {
		return fmt.Errorf("composite: %w", err)
	}
	r.mix = m
	if mt := r.svc.m; mt != nil {
		mt.MixerComposites.Inc()
	}
	return nil
}

// mixFailed runs when the mixer died or hung: event 1 from the recorder
// module, a log line and a count; mixrun restarts a live composite.
func (r *recorder) mixFailed(err error, restarting bool) {
	if mt := r.svc.m; mt != nil {
		mt.MixerFailures.Inc()
		if restarting {
			mt.MixerRestarts.Inc()
		}
	}
	r.svc.log.Error("composite failed", "sid", r.sid, "error", err, "restarting", restarting)
	r.event(webhook.RecordingError{Module: errModuleRecorder, ErrorLevel: errLevelMajor, ErrorCode: errCodeRecorderFailed,
		Stat: 0, ErrorMsg: "the composite's mixer failed: " + err.Error(), Restarting: &restarting})
}

// mixFile runs on the worker for every file the mixer finished.
func (r *recorder) mixFile(fc mixproto.FileClosed) {
	m := r.mix
	k := trackKey{kind: trackMixed}
	start := time.UnixMilli(m.originMs).Add(time.Duration(fc.StartPTS))
	f := hls.File{Name: fc.Name, Path: filepath.Join(r.dir, fc.Name), Start: start, Duration: time.Duration(fc.DurationNs)}
	switch fc.Kind {
	case mixproto.KindTS:
		if err := m.playlist.Add(fc, m.disco.Swap(false)); err != nil {
			r.svc.log.Error("composite playlist not written", "sid", r.sid, "error", err)
			return
		}
		if m.firstSeg.IsZero() {
			m.firstSeg = start
		}
		f.Kind = hls.FileSegment
		r.onFile(k, f)
		r.onFile(k, hls.File{Kind: hls.FilePlaylist, Name: m.playlist.Name(), Path: filepath.Join(r.dir, m.playlist.Name()), Start: m.firstSeg})
	case mixproto.KindMP4:
		f.Kind = hls.FileMP4
		r.onFile(k, f)
	}
}

// closeMix ends the composite on the worker: the feed stops, the mixer
// finalises (its last files are handled as they come), the playlist is
// ended and uploaded once more.
func (r *recorder) closeMix() {
	m := r.mix
	m.live.Close()
	r.mixMembership() // the last ones leave: state 1
	ctx, cancel := context.WithTimeout(context.Background(), mixCloseTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.comp.Close(ctx) }()
	var err error
	for waiting := true; waiting; {
		select {
		case fc := <-m.files:
			r.mixFile(fc)
		case err = <-done:
			waiting = false
		}
	}
	for more := true; more; {
		select {
		case fc := <-m.files:
			r.mixFile(fc)
		default:
			more = false
		}
	}
	st := m.comp.Stats()
	if mt := r.svc.m; mt != nil {
		mt.MixerComposites.Dec()
		mt.MixerDroppedUnits.Add(float64(st.DroppedVideo + st.DroppedAudio))
	}
	if err != nil {
		r.svc.log.Error("composite not finalised", "sid", r.sid, "error", err)
	}
	if m.playlist.Segments() > 0 {
		if err := m.playlist.Close(); err != nil {
			r.svc.log.Error("composite playlist not ended", "sid", r.sid, "error", err)
		} else {
			r.onFile(trackKey{kind: trackMixed}, hls.File{Kind: hls.FilePlaylist, Name: m.playlist.Name(),
				Path: filepath.Join(r.dir, m.playlist.Name()), Start: m.firstSeg})
		}
	}
	r.svc.log.Info("composite ended", "sid", r.sid, "segments", m.playlist.Segments(), "restarts", st.Restarts,
		"dropped_video", st.DroppedVideo, "dropped_audio", st.DroppedAudio)
}

// mixMembership runs on the worker after someone joined or left the
// composite: events 43/44 say whose audio and video it now receives
// (state 0) or no longer does (1), as individual mode says per track.
func (r *recorder) mixMembership() {
	if r.mix == nil {
		return
	}
	now := map[uint32]mixfeed.Member{}
	for _, p := range r.mix.live.Present() {
		now[p.Source] = p
	}
	tell := func(p mixfeed.Member, state int) {
		uid, _ := strconv.ParseUint(p.UID, 10, 32)
		if p.Audio && !r.settings.audioOff {
			r.streamState(trackKey{uid: uint32(uid), kind: storage.KindAudio}, state)
		}
		if p.Video && !r.settings.videoOff {
			r.streamState(trackKey{uid: uint32(uid), kind: storage.KindVideo}, state)
		}
	}
	for id, p := range now {
		if _, ok := r.mix.seen[id]; !ok {
			tell(p, 0)
		}
	}
	for id, p := range r.mix.seen {
		if _, ok := now[id]; !ok {
			tell(p, 1)
		}
	}
	r.mix.seen = now
}

// mixFiles is the worker's channel of finished composite files (nil in
// individual mode: never ready).
func (r *recorder) mixFiles() chan mixproto.FileClosed {
	if r.mix == nil {
		return nil
	}
	return r.mix.files
}

// mixSubscriptions applies an update of the subscriptions to the
// composite (worker).
func (r *recorder) mixSubscriptions() {
	if r.mix == nil {
		return
	}
	subs := r.subs
	r.mix.subs.Store(&subs)
	r.mix.live.Refresh()
	r.mix.arr.Relayout()
}

// updateLayout replaces the composite's layout (updateLayout).
func (r *recorder) updateLayout(cfg layout.Config) bool {
	select {
	case <-r.closedOut:
		return false
	default:
	}
	r.mix.arr.SetLayout(cfg)
	return true
}
