package cloudrec

import (
	"context"
	"errors"
	"time"

	"github.com/ars-project/ars/internal/aacenc"
	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/webhook"
)

// AAC audio of individual mode in MPEG-TS: Agora delivers a uid's audio
// as AAC, ars receives Opus. One audio transcoder per recording (an
// ars-mixer --audio-transcoder process, package aacenc) takes every
// audio track's Opus packets from the track's Transcode hook (on the
// worker, never blocking: aacenc's queue drops and counts when full) and
// gives back AAC units on its own goroutine; they come back to the
// worker through aacState.results, and the worker writes them into the
// track (Track.WriteAAC), so every track stays on one goroutine.

// aacCloseTimeout bounds the flush of the transcoder at the end.
const aacCloseTimeout = 10 * time.Second

// aacResults is the room for units on their way back to the worker: the
// transcoder's reader waits when it is full (which only slows the child;
// the packet path never waits on it).
const aacResults = 4096

type aacResult struct {
	id uint32
	au aacenc.AAC
}

// aacState is the worker's transcoder and its streams.
type aacState struct {
	tc      *aacenc.Transcoder
	results chan aacResult
	// down: the transcoder could not start; audio stays Opus.
	down    bool
	next    uint32
	streams map[uint32]*aacTrack
}

type aacTrack struct {
	key    trackKey
	ts     *trackState
	s      *aacenc.Stream
	closed bool
}

// aacResultsChan is the worker's channel of transcoder results (nil
// without a transcoder: never ready).
func (r *recorder) aacResultsChan() chan aacResult { return r.aac.results }

// startAAC starts the recording's transcoder at its first audio track;
// false when it is not running.
func (r *recorder) startAAC() bool {
	st := &r.aac
	if st.tc != nil {
		return true
	}
	if st.down {
		return false
	}
	log := r.svc.log.With("component", "cloudrec", "sid", r.sid, "cname", r.cname)
	results := make(chan aacResult, aacResults)
	opts := []aacenc.Option{aacenc.WithLogger(log),
		aacenc.WithOnAAC(func(id uint32, au aacenc.AAC) { results <- aacResult{id: id, au: au} })}
	if r.svc.cfg.MixerBin != "" {
		opts = append(opts, aacenc.WithBinary(r.svc.cfg.MixerBin))
	}
	if m := r.svc.m; m != nil {
		opts = append(opts, aacenc.WithMetrics(m.AAC))
	}
	tc, err := aacenc.New(opts...)
	if err == nil {
		err = tc.Start()
	}
	if err != nil {
		st.down = true
		log.Error("audio transcoder not started: audio is recorded as Opus in MPEG-TS", "error", err)
		r.event(webhook.RecordingError{Module: errModuleRecorder, ErrorLevel: errLevelMajor, ErrorCode: errCodeRecorderFailed,
			ErrorMsg: "the audio transcoder did not start, audio stays Opus: " + err.Error()})
		return false
	}
	st.tc, st.results, st.streams = tc, results, map[uint32]*aacTrack{}
	return true
}

// openAAC opens a transcoder stream for an audio track about to be made:
// the Transcode hook of its hls.Config, or nil (Opus in TS) when the
// transcoder is not there.
func (r *recorder) openAAC(key trackKey, ts *trackState, info storage.StreamInfo) func(time.Duration, []byte) {
	if !r.startAAC() {
		return nil
	}
	st := &r.aac
	st.next++
	id := st.next
	s, err := st.tc.Open(id, aacenc.Params{InputChannels: int(info.Channels), Fast: r.svc.cfg.AACFast})
	if err != nil {
		r.svc.log.Error("audio transcoder stream not opened: this track stays Opus", "sid", r.sid, "uid", key.uid, "error", err)
		return nil
	}
	st.streams[id] = &aacTrack{key: key, ts: ts, s: s}
	return func(pts time.Duration, opus []byte) { s.Write(pts, opus) }
}

// aacResult runs on the worker for each result of the transcoder.
func (r *recorder) aacResult(res aacResult) {
	at := r.aac.streams[res.id]
	if at == nil || at.ts.t == nil {
		return
	}
	ts, au := at.ts, res.au
	switch au.Kind {
	case aacenc.KindConfig:
		if err := ts.t.SetAACConfig(au.ASC); err != nil {
			r.svc.log.Error("AAC configuration refused", "sid", r.sid, "track", ts.t.Name(), "error", err)
		}
	case aacenc.KindUnit:
		now := r.svc.now()
		if ts.failing && now.Before(ts.retryAt) {
			r.dropped.Add(1)
			return
		}
		if err := ts.t.WriteAAC(au.PTS, au.Data); err != nil {
			if errors.Is(err, hls.ErrAACConfig) {
				r.dropped.Add(1)
				return
			}
			r.writeFailed(at.key, ts, now, err)
		}
	case aacenc.KindError:
		at.closed = true
		r.svc.log.Error("audio transcoder stream failed: the track's audio ends here", "sid", r.sid, "track", ts.t.Name(), "error", au.Err)
		r.event(webhook.RecordingError{Module: errModuleRecorder, ErrorLevel: errLevelMajor, ErrorCode: errCodeRecorderFailed,
			ErrorMsg: "audio transcoding failed: " + au.Err.Error(), TrackType: storage.KindAudio})
	case aacenc.KindClosed:
		at.closed = true
	}
}

// closeAAC flushes every track into the transcoder and the transcoder
// back into the tracks, then stops it: the end of a recording (exit) or
// of this run (suspend) loses none of the audio received. The tracks are
// closed by the caller afterwards.
func (r *recorder) closeAAC() {
	st := &r.aac
	if st.tc == nil {
		return
	}
	for _, at := range st.streams {
		if at.ts.t != nil {
			if err := at.ts.t.Flush(); err != nil {
				r.svc.log.Warn("track flush", "sid", r.sid, "track", at.ts.t.Name(), "error", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), aacCloseTimeout)
	defer cancel()
	var open []*aacenc.Stream
	for _, at := range st.streams {
		if !at.closed {
			open = append(open, at.s)
		}
	}
	tc := st.tc
	done := make(chan error, 1)
	go func() {
		// Each stream's last units, then the process.
		for _, s := range open {
			_ = s.Close(ctx)
		}
		done <- tc.Close(ctx)
	}()
	for waiting := true; waiting; {
		select {
		case res := <-st.results:
			r.aacResult(res)
		case err := <-done:
			if err != nil {
				r.svc.log.Warn("audio transcoder ended badly", "sid", r.sid, "error", err)
			}
			waiting = false
		}
	}
	for more := true; more; {
		select {
		case res := <-st.results:
			r.aacResult(res)
		default:
			more = false
		}
	}
	stats := st.tc.Stats()
	r.svc.log.Info("audio transcoding ended", "sid", r.sid, "units", stats.Units, "dropped", stats.Dropped,
		"restarts", stats.Restarts)
	st.tc, st.results, st.streams = nil, nil, nil
}
