package session

import (
	"errors"
	"fmt"
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
	mgr     *Manager

	// lastMedia is the unix-nano time of the last packet, for idle checks,
	// kept to within lastMediaGranularity.
	lastMedia atomic.Int64
	capture   atomic.Pointer[capture]
	// retryAt is the unix-nano time before which no new capture is opened.
	retryAt atomic.Int64
	left    atomic.Bool

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
// packet path: no allocation, no manager lock. It returns ErrNotRecording
// when the channel is not recording (the packet is dropped).
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
	if sinks := p.channel.sinks.Load(); sinks != nil {
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
			return ErrNotRecording
		}
		var err error
		if c, err = p.openCapture(now); err != nil {
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
			return ErrNotRecording
		}
		p.captureFailed(c, now)
		return err
	}
	return nil
}

// openCapture is the slow path of the first packet after a recording starts.
func (p *Participant) openCapture(now time.Time) (*capture, error) {
	if now.UnixNano() < p.retryAt.Load() {
		return nil, ErrCaptureUnavailable
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.capture.Load(); c != nil {
		return c, nil
	}
	rec := p.channel.rec.Load()
	if rec == nil || p.left.Load() {
		return nil, ErrNotRecording
	}
	c, err := openCapture(rec, p, now)
	if err != nil {
		p.retryAt.Store(now.Add(captureRetryPause).UnixNano())
		p.mgr.metrics.WriteErrors.Inc()
		p.mgr.log.Warn("capture open failed; retrying after a pause", "channel", p.channel.name, "uid", p.uid,
			"retry_in", captureRetryPause, "err", err)
		p.mgr.recordingFailed(rec, err)
		return nil, fmt.Errorf("%w: %w", ErrCaptureUnavailable, err)
	}
	p.capture.Store(c)
	p.mgr.metrics.OpenFiles.Inc()
	return c, nil
}

// captureFailed retires a capture whose write failed; the next packet after
// the retry pause opens a new file.
func (p *Participant) captureFailed(c *capture, now time.Time) {
	p.mgr.metrics.WriteErrors.Inc()
	p.retryAt.Store(now.Add(captureRetryPause).UnixNano())
	if p.capture.CompareAndSwap(c, nil) {
		p.mgr.recordingFailed(c.rec, c.w.Err())
		go p.mgr.finishCapture(c)
	}
}

// detachCapture takes the participant's capture away for closing.
func (p *Participant) detachCapture() *capture {
	p.mu.Lock()
	defer p.mu.Unlock()
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
		p.mgr.leave(p, "bye")
	}
}

// Leave removes the participant from its channel.
func (p *Participant) Leave() { p.mgr.leave(p, "request") }

// CaptureFile is the path of the open capture, or "".
func (p *Participant) CaptureFile() string {
	if c := p.capture.Load(); c != nil {
		return c.path
	}
	return ""
}
