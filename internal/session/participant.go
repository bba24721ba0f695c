package session

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// captureRetryPause is how long a participant waits before opening a new
// capture after a write failure (a full disk, say), so that a failing disk
// is not hammered by every packet.
const captureRetryPause = 5 * time.Second

// lastMediaGranularity is how stale a participant's last-media time may be;
// idle timeouts are seconds long.
const lastMediaGranularity = 50 * time.Millisecond

// Participant is one uid in a channel. Ingests call Write for every packet.
type Participant struct {
	id      string
	uid     uint32
	source  string
	since   time.Time
	channel *channel
	deps    participantDeps

	// lastMedia is the unix-nano time of the last packet, for idle checks,
	// kept to within lastMediaGranularity.
	lastMedia atomic.Int64
	capture   atomic.Pointer[capture]
	// retryAt is the unix-nano time before which no new capture is opened.
	retryAt atomic.Int64
	left    atomic.Bool
	// leftReason is why the participant left, set before its leave
	// hooks run.
	leftReason atomic.Pointer[string]

	// pendMu guards the first packets' queue while the capture is opened
	// by one of the manager's open workers; it is taken only while no
	// capture is open.
	pendMu     sync.Mutex
	pend       *pendingQueue
	openQueued bool
	client     netip.Addr // who made the join call, for the per-address cap

	// mu serialises opening and closing captures and guards the fields below.
	mu        sync.Mutex
	streams   []storage.StreamInfo
	onLeave   []func()
	keyframe  func()
	byeSSRCs  map[uint32]bool
	leaveOnce sync.Once
}

// ID is the participant's unguessable identifier.
func (p *Participant) ID() string { return p.id }

// UID is the participant's user ID.
func (p *Participant) UID() uint32 { return p.uid }

// Channel is the name of the participant's channel.
func (p *Participant) Channel() string { return p.channel.name }

// Source says how the participant's media arrives ("rtp", "webrtc").
func (p *Participant) Source() string { return p.source }

// Since is when the participant joined.
func (p *Participant) Since() time.Time { return p.since }

// Left reports whether the participant has left.
func (p *Participant) Left() bool { return p.left.Load() }

// Streams returns the participant's declared streams.
func (p *Participant) Streams() []storage.StreamInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]storage.StreamInfo(nil), p.streams...)
}

// AddStream declares a stream that appeared after joining (a WebRTC track,
// a new SSRC). An open capture records the declaration.
func (p *Participant) AddStream(info storage.StreamInfo) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.streams {
		if s.SSRC == info.SSRC {
			return nil
		}
	}
	p.streams = append(p.streams, info)
	if c := p.capture.Load(); c != nil {
		return c.w.WriteStream(time.Since(c.start), info)
	}
	return nil
}

// OnLeave registers f to run once when the participant leaves, for
// whatever reason (request, idle, replaced, shutdown).
func (p *Participant) OnLeave(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onLeave = append(p.onLeave, f)
}

// SetKeyframeRequester registers how to ask this participant's sender for
// a keyframe; the manager calls it when a recording starts.
func (p *Participant) SetKeyframeRequester(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keyframe = f
}

// RequestKeyframe asks the participant's sender for a keyframe, for a
// consumer that lost its place in the video (a live composite after a
// loss). It may block briefly on the sender's transport: call it off the
// packet path.
func (p *Participant) RequestKeyframe() { p.requestKeyframe() }

func (p *Participant) requestKeyframe() {
	p.mu.Lock()
	f := p.keyframe
	p.mu.Unlock()
	if f != nil {
		f()
	}
}

// Observed reports whether a sink (a cloud recording, a live output)
// takes this participant's packets, recording or not.
func (p *Participant) Observed() bool {
	s := p.channel.sinks.Load()
	return s != nil && len(*s) > 0
}

// Write records one RTP or RTCP packet that arrived at now. It is the
// packet path: no allocation, no manager lock.
//
// Its error is what became of the packet, which the ingests count by:
// nil when it was taken, by the channel's capture (written or queued for
// the file being opened) or by a sink (a cloud recording, a live
// composite), with or without a capture; ErrNotRecording only when
// nothing took it (it is dropped). A failure of the channel's recording
// (ErrCaptureQueueFull, ErrCaptureUnavailable, a write error) is returned
// even when a sink took the packet: the recording lost it, and that loss
// must not be hidden by a live consumer that happened to see it.
func (p *Participant) Write(kind storage.RecordKind, now time.Time, pkt []byte) error {
	return p.write(kind, now, pkt, 0)
}

// WriteSegments records the packets of a message the kernel merged (UDP
// GRO): seg bytes each, the last possibly shorter, all arrived at now.
// One capture lock for them all, otherwise as Write.
func (p *Participant) WriteSegments(kind storage.RecordKind, now time.Time, data []byte, seg int) error {
	return p.write(kind, now, data, seg)
}

// write is Write (seg 0) and WriteSegments.
func (p *Participant) write(kind storage.RecordKind, now time.Time, data []byte, seg int) error {
	// A plain load first: the idle check needs no better than
	// lastMediaGranularity, and an atomic store per packet is a full memory
	// barrier stalling on the participant's cache line.
	if t := now.UnixNano(); t-p.lastMedia.Load() >= int64(lastMediaGranularity) {
		p.lastMedia.Store(t)
	}
	// Inline, not a helper: a loop is past the inliner, and this is every
	// packet of an observed channel.
	taken := false
	if sinks := p.channel.sinks.Load(); sinks != nil && len(*sinks) > 0 {
		taken = true // a sink takes whatever it is given
		step := seg
		if step <= 0 {
			step = len(data)
		}
		for off := 0; off < len(data); off += step {
			pkt := data[off:min(off+step, len(data))]
			for _, s := range *sinks {
				s.Packet(p, kind, now, pkt)
			}
		}
	}
	c := p.capture.Load()
	if c == nil {
		if p.channel.rec.Load() == nil {
			return untaken(taken)
		}
		var err error
		if c, err = p.enqueue(kind, now, data, seg); c == nil {
			return err
		}
	}
	var err error
	if seg > 0 {
		err = c.w.WriteSegments(kind, now.Sub(c.start), data, seg)
	} else {
		err = c.w.Write(kind, now.Sub(c.start), data)
	}
	if err != nil {
		if errors.Is(err, storage.ErrClosed) {
			// A stop or a leave closed the capture after this packet
			// loaded it: the recording is over, which is no failure.
			return untaken(taken)
		}
		p.captureFailed(c, now)
		return err
	}
	return nil
}

// untaken is what write reports for a packet no capture took: dropped
// (ErrNotRecording) unless a sink took it.
func untaken(bySink bool) error {
	if bySink {
		return nil
	}
	return ErrNotRecording
}

// enqueue is the first packets' path: no capture is open, so the packet
// waits in the participant's bounded queue while an open worker opens the
// file (the reader goroutine of a port must not wait on the disk: a
// thousand channels starting at once would overflow the socket buffers).
// It returns the capture when one was opened meanwhile, and otherwise nil
// with nil (queued) or an error (dropped).
func (p *Participant) enqueue(kind storage.RecordKind, now time.Time, data []byte, seg int) (*capture, error) {
	if now.UnixNano() < p.retryAt.Load() {
		return nil, ErrCaptureUnavailable
	}
	d := &p.deps
	p.pendMu.Lock()
	if c := p.capture.Load(); c != nil {
		p.pendMu.Unlock()
		return c, nil
	}
	q := p.pend
	if q == nil {
		q = d.queues.Get().(*pendingQueue)
		p.pend = q
	}
	ok := q.push(kind, now, data, seg)
	if !p.openQueued {
		select {
		case d.opens <- p:
			p.openQueued = true
		default: // every worker busy and the queue full: the next packet asks again
		}
	}
	p.pendMu.Unlock()
	if !ok {
		d.metrics.DropQueueFull.Add(float64(datagrams(len(data), seg)))
		return nil, ErrCaptureQueueFull
	}
	d.metrics.CaptureQueued.Add(float64(datagrams(len(data), seg)))
	return nil, nil
}

// openPending opens p's capture off the packet path and writes the packets
// that waited for it, in order, before any later packet.
func (p *Participant) openPending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.channel.rec.Load()
	if p.left.Load() || rec == nil {
		// A leave or a stop is under way: its detachCapture writes the
		// queue into the recording it ends. (A packet that raced a stop
		// past that leaves its queue for the participant's next
		// recording or its leave.)
		return
	}
	p.openPendingLocked(rec)
}

// openPendingLocked opens the capture of rec for the queued packets, if
// any; p.mu is held.
func (p *Participant) openPendingLocked(rec *recording) {
	d := &p.deps
	p.pendMu.Lock()
	p.openQueued = false
	q := p.pend
	var start time.Time
	if q != nil && len(q.pkts) > 0 {
		start = time.Unix(0, q.pkts[0].at)
	}
	p.pendMu.Unlock()
	if q == nil || p.capture.Load() != nil {
		return
	}
	if rec == nil {
		p.dropPending(false)
		return
	}
	if start.IsZero() {
		start = time.Now()
	}
	c, err := openCapture(rec, p, start)
	if err != nil {
		now := time.Now()
		p.retryAt.Store(now.Add(captureRetryPause).UnixNano())
		d.metrics.WriteErrors.Inc()
		d.log.Warn("capture open failed; retrying after a pause", "channel", p.channel.name, "uid", p.uid,
			"retry_in", captureRetryPause, "err", err)
		d.owner.recordingFailed(rec, err)
		p.dropPending(true)
		return
	}
	d.metrics.OpenFiles.Inc()
	// Drain in rounds, writing outside pendMu: a drain may reach the disk
	// (a full queue is larger than the writer's buffer) and the packet
	// path must not wait on it. Packets that arrive meanwhile join the
	// queue (its buffers never move: push stays within their capacity)
	// and go in the next round; the capture is published only under the
	// lock with the queue empty, so no later packet overtakes a queued one.
	var werr error
	done := 0
	for {
		p.pendMu.Lock()
		n := len(q.pkts)
		if n == done || werr != nil {
			p.pend = nil
			p.capture.Store(c)
			p.pendMu.Unlock()
			break
		}
		batch, buf := q.pkts[done:n], q.buf
		p.pendMu.Unlock()
		for _, pk := range batch {
			b := buf[pk.off : pk.off+pk.n]
			at := max(time.Duration(pk.at-c.start.UnixNano()), 0)
			if pk.seg > 0 {
				werr = c.w.WriteSegments(pk.kind, at, b, pk.seg)
			} else {
				werr = c.w.Write(pk.kind, at, b)
			}
			if werr != nil {
				break
			}
		}
		done = n
	}
	q.reset()
	d.queues.Put(q)
	if werr != nil {
		p.captureFailed(c, time.Now())
	}
}

// dropPending throws the queued packets away (the recording stopped, the
// participant left, or the open failed: lost says which to count).
func (p *Participant) dropPending(lost bool) {
	p.pendMu.Lock()
	q := p.pend
	p.pend = nil
	p.pendMu.Unlock()
	if q == nil {
		return
	}
	if n := q.count(); lost && n > 0 {
		p.deps.metrics.DropWriteFailed.Add(float64(n))
	}
	q.reset()
	p.deps.queues.Put(q)
}

// captureFailed retires a capture whose write failed; the next packet after
// the retry pause opens a new file.
func (p *Participant) captureFailed(c *capture, now time.Time) {
	p.deps.metrics.WriteErrors.Inc()
	p.retryAt.Store(now.Add(captureRetryPause).UnixNano())
	if p.capture.CompareAndSwap(c, nil) {
		p.deps.owner.recordingFailed(c.rec, c.w.Err())
		go p.deps.owner.finishCapture(c)
	}
}

// detachCapture takes the participant's capture of rec away for closing.
// Packets still waiting for their file are written first: a participant
// that leaves (or a recording that stops) just after its first packets
// keeps them.
func (p *Participant) detachCapture(rec *recording) *capture {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.capture.Load() == nil {
		p.openPendingLocked(rec)
	}
	return p.capture.Swap(nil)
}

// noteBye records an RTCP BYE for ssrc and reports whether every declared
// stream of the participant has now said goodbye.
func (p *Participant) noteBye(ssrc uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byeSSRCs == nil {
		p.byeSSRCs = map[uint32]bool{}
	}
	p.byeSSRCs[ssrc] = true
	for _, s := range p.streams {
		if !p.byeSSRCs[s.SSRC] {
			return false
		}
	}
	return true
}

// Bye handles an RTCP BYE from one of the participant's streams: once all
// its streams said goodbye, the participant leaves.
func (p *Participant) Bye(ssrc uint32) {
	if p.noteBye(ssrc) {
		p.deps.owner.leave(p, "bye")
	}
}

// LeftReason is why the participant left (StopShutdown when the daemon
// stopped, so that the next start may bring it back), or "" while it
// has not.
func (p *Participant) LeftReason() string {
	if r := p.leftReason.Load(); r != nil {
		return *r
	}
	return ""
}

// Leave removes the participant from its channel.
func (p *Participant) Leave() { p.deps.owner.leave(p, "request") }

// CaptureFile is the path of the open capture, or "".
func (p *Participant) CaptureFile() string {
	if c := p.capture.Load(); c != nil {
		return c.path
	}
	return ""
}

// Wanted reports whether the participant's media is being taken: its
// channel records or a sink observes it. Keyframe requests matter only
// then.
func (p *Participant) Wanted() bool {
	return p.channel.rec.Load() != nil || p.Observed()
}

// Client is the address that made the join call, if known.
func (p *Participant) Client() netip.Addr { return p.client }
