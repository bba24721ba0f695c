package cloudrec

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/webhook"
)

// The media worker: one goroutine per recorder (run) takes what the sink
// puts in the inbox (packets, joins and leaves, subscription updates),
// writes the tracks and, once a second, checks idleness, reports upload
// progress and checkpoints the record. Nothing of workerState is locked:
// only this goroutine touches it, and exit or suspend end it on the same
// goroutine.

// inboxSize bounds the packets waiting for the recorder's goroutine; past
// it packets are dropped rather than stalling the packet path.
const inboxSize = 8192

type itemKind int

const (
	itemPacket itemKind = iota
	itemJoined
	itemLeft
	itemUpdate
	itemLost // a file's upload was lost (diskfull.go)
	// itemMembership: someone joined or left the composite (mix.go).
	itemMembership
)

type item struct {
	kind itemKind
	p    *session.Participant
	at   time.Time
	data []byte
	upd  subscriptionUpdate
	// lostKey is the storage key of a lost file (itemLost).
	lostKey string
}

type subscriptionUpdate struct {
	audio, video *uidFilter
}

type trackKey struct {
	uid  uint32
	kind string
}

type trackState struct {
	t      *hls.Track
	ssrc   uint32
	lastAt time.Time
	// unusable: the stream cannot be recorded (its codec); it never is.
	unusable bool
	// failing: the last write failed; packets are dropped until retryAt,
	// then the track tries again (diskfull.go).
	failing bool
	retryAt time.Time
	// lastEnd is the wall-clock end of the last segment written.
	lastEnd time.Time
	// playlist: the track has written its playlist (standard mode's
	// master playlist names it from then on).
	playlist bool
}

// workerState is the media worker's own state: its copy of the
// subscriptions (updates come through the inbox), who is in the channel,
// the tracks, and the pacing of its periodic work.
type workerState struct {
	subs       subscription
	parts      map[*session.Participant]map[uint32]storage.StreamInfo
	tracks     map[trackKey]*trackState
	emptySince time.Time
	sliced     bool
	lastProg   time.Time
	// closeLeftovers: at exit, end the playlists of an earlier run that
	// no track took over (resume.go).
	closeLeftovers bool
	// lastSave and saveMark pace checkpoints (record.go).
	lastSave time.Time
	saveMark [4]int
	// snap is the snapshots of a session with snapshotConfig
	// (snapshots.go).
	snap snapState
	// aac is the audio transcoder of MPEG-TS recordings (aac.go).
	aac aacState
}

func newWorkerState(subs subscription, now time.Time) workerState {
	return workerState{subs: subs, parts: map[*session.Participant]map[uint32]storage.StreamInfo{},
		tracks: map[trackKey]*trackState{}, emptySince: now, lastProg: now}
}

func (r *recorder) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case it := <-r.in:
			r.handle(it)
		case fc := <-r.mixFiles():
			r.mixFile(fc)
		case res := <-r.snapResults():
			r.snapResult(res)
		case res := <-r.aacResultsChan():
			r.aacResult(res)
		case now := <-tick.C:
			if len(r.parts) == 0 && now.Sub(r.emptySince) > r.settings.maxIdle {
				r.exit("idle")
				return
			}
			if now.Sub(r.lastProg) >= r.svc.cfg.ProgressEvery {
				r.lastProg = now
				r.progress()
			}
			r.checkpoint(now)
		case cause := <-r.exitReq:
			if cause == causeSuspend {
				r.suspend()
			} else {
				r.exit(cause)
			}
			return
		}
	}
}

func (r *recorder) handle(it item) {
	switch it.kind {
	case itemJoined:
		if it.p.UID() == r.uid {
			return
		}
		if _, ok := r.parts[it.p]; !ok {
			r.parts[it.p] = streamMap(it.p)
		}
	case itemLeft:
		if _, ok := r.parts[it.p]; !ok {
			return
		}
		delete(r.parts, it.p)
		r.snapLeft(it.p.UID())
		if len(r.parts) == 0 {
			r.emptySince = r.svc.now()
		}
		for k, ts := range r.tracks {
			if k.uid == it.p.UID() && !ts.unusable {
				r.streamState(k, 1)
				r.trackIdle(ts)
			}
		}
	case itemUpdate:
		if it.upd.audio != nil {
			r.subs.audio = *it.upd.audio
		}
		if it.upd.video != nil {
			r.subs.video = *it.upd.video
		}
		r.mixSubscriptions()
	case itemPacket:
		r.packet(it)
	case itemLost:
		r.dropLost(it.lostKey)
	case itemMembership:
		r.mixMembership()
	}
}

func streamMap(p *session.Participant) map[uint32]storage.StreamInfo {
	m := map[uint32]storage.StreamInfo{}
	for _, s := range p.Streams() {
		m[s.SSRC] = s
	}
	return m
}

func (r *recorder) packet(it item) {
	streams, ok := r.parts[it.p]
	if !ok {
		if it.p.UID() == r.uid {
			return
		}
		streams = streamMap(it.p)
		r.parts[it.p] = streams
	}
	ssrc := binary.BigEndian.Uint32(it.data[8:12])
	info, ok := streams[ssrc]
	if !ok {
		// A stream added after joining.
		for _, s := range it.p.Streams() {
			streams[s.SSRC] = s
		}
		if info, ok = streams[ssrc]; !ok {
			return
		}
	}
	uid := it.p.UID()
	switch info.Kind {
	case storage.KindAudio:
		if r.settings.audioOff || !r.subs.audio.wants(uid) {
			return
		}
	case storage.KindVideo:
		if r.settings.videoOff || !r.subs.video.wants(uid) {
			return
		}
	default:
		return
	}
	if sn := r.settings.snap; sn != nil {
		if info.Kind == storage.KindVideo {
			r.snapPacket(it, info, ssrc)
		}
		if sn.only {
			return
		}
	}
	key := trackKey{uid: uid, kind: info.Kind}
	ts := r.tracks[key]
	if ts == nil {
		ts = r.newTrack(key, info)
		ts.ssrc = ssrc
	}
	if ts.unusable {
		return
	}
	if ts.failing && it.at.Before(ts.retryAt) {
		// Not yet time to try the disk again.
		r.dropped.Add(1)
		return
	}
	if ts.ssrc != ssrc {
		// A second stream of the same kind takes over only once the
		// first has gone quiet.
		if it.at.Sub(ts.lastAt) < time.Second {
			return
		}
		ts.ssrc = ssrc
	}
	ts.lastAt = it.at
	if err := ts.t.WriteRTP(it.at, it.data); err != nil {
		r.writeFailed(key, ts, it.at, err)
	}
}

func trackName(sid, cname string, uid uint32, kind string) string {
	return fmt.Sprintf("%s_%s__uid_s_%d__uid_e_%s", sid, cname, uid, kind)
}

func (r *recorder) newTrack(key trackKey, info storage.StreamInfo) *trackState {
	ts := &trackState{}
	r.tracks[key] = ts
	// Video of any recorded codec (hls takes H.264, VP8, VP9 and AV1);
	// the camera orientation if the sender declared its extension.
	var cvo uint8
	if info.Kind == storage.KindVideo {
		cvo = info.ExtensionID(vcodec.CVOURI)
	}
	cfg := hls.Config{Dir: r.dir, Name: trackName(r.sid, r.cname, key.uid, key.kind),
		Kind: info.Kind, Codec: info.Codec, ClockRate: info.ClockRate, Channels: int(info.Channels), CVOID: cvo,
		SegmentDuration: r.svc.cfg.SegmentDuration, MP4: r.settings.mp4, Log: r.svc.log, Resume: r.resumed != nil,
		Container: r.container(), OnFile: func(f hls.File) { r.onFile(key, f) }}
	if r.transcodes(info) {
		// Agora's audio in MPEG-TS is AAC (aac.go); without a transcoder
		// it stays Opus, which MPEG-TS carries too.
		cfg.Transcode = r.openAAC(key, ts, info)
	}
	t, err := hls.NewTrack(cfg)
	if err != nil {
		ts.unusable = true
		r.svc.log.Warn("stream not recordable", "sid", r.sid, "uid", key.uid, "codec", info.Codec, "error", err)
		return ts
	}
	ts.t = t
	r.streamState(key, 0)
	return ts
}

// streamState sends event 43 (audio) or 44 (video): state 0 means the
// stream is being received, 1 that it stopped.
func (r *recorder) streamState(k trackKey, state int) {
	ch := webhook.StreamStateChanged{UtcMs: r.svc.now().UnixMilli(),
		Streams: []webhook.StreamState{{StreamUID: strconv.FormatUint(uint64(k.uid), 10), State: state}}}
	var d webhook.Event = webhook.AudioStreamStateChanged(ch)
	if k.kind == storage.KindVideo {
		d = webhook.VideoStreamStateChanged(ch)
	}
	r.event(d)
}
