package whip

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

const (
	// lossPLIInterval throttles keyframe requests after loss: a PLI storm
	// costs the sender more quality than it buys.
	lossPLIInterval = time.Second
	// readBufferSize fits any packet pion hands over (its receive MTU is
	// 1460 bytes).
	readBufferSize = 1500
)

// peer is one WHIP session: a PeerConnection feeding one participant.
type peer struct {
	g   *Ingest
	pc  *webrtc.PeerConnection
	p   *session.Participant
	log *slog.Logger

	done      chan struct{}
	closeOnce sync.Once

	// slot is the session's place among those waiting for ICE, given
	// back when it connects or once everything of it is freed.
	slot *pendingSlot

	mu        sync.Mutex
	closing   bool
	connected bool
	iceTimer  *time.Timer
	loops     sync.WaitGroup
	videos    []uint32
	lastLoss  time.Time

	// recording is whether the last packet was written (the channel
	// records); periodic keyframe requests are only sent then.
	recording atomic.Bool
}

func newPeer(g *Ingest, pc *webrtc.PeerConnection, slot *pendingSlot) *peer {
	return &peer{g: g, pc: pc, slot: slot, done: make(chan struct{}), log: g.log}
}

// attach binds the peer to its participant and installs the handlers
// that tie their lifetimes together. It reports false (and the
// participant leaves) when the peer is already shutting down.
func (pr *peer) attach(p *session.Participant) bool {
	pr.mu.Lock()
	if pr.closing {
		pr.mu.Unlock()
		p.Leave()
		return false
	}
	pr.p = p
	pr.log = pr.g.log.With("channel", p.Channel(), "uid", p.UID(), "id", p.ID())
	pr.mu.Unlock()
	pr.pc.OnTrack(pr.onTrack)
	pr.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		pr.log.Debug("peer connection state", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			pr.onConnected()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			pr.shutdown("peer connection " + s.String())
		}
	})
	// Whatever ends the participant (DELETE, idle, a rejoin, shutdown)
	// ends the PeerConnection.
	p.OnLeave(func() { pr.shutdown("participant left") })
	p.SetKeyframeRequester(func() { pr.requestKeyframe("recording started") })
	return true
}

// startICETimer ends the session if it has not connected within d: a
// client that never answers STUN would otherwise hold it until the
// participant's idle timeout.
func (pr *peer) startICETimer(d time.Duration) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.closing || pr.connected {
		return
	}
	pr.iceTimer = time.AfterFunc(d, func() {
		pr.mu.Lock()
		late := !pr.closing && !pr.connected
		pr.mu.Unlock()
		if !late {
			return
		}
		pr.g.metrics.WebRTC.ICETimeouts.Inc()
		pr.log.Info("webrtc session did not connect in time", "ice_timeout", d)
		pr.shutdown("ice timeout")
	})
}

// onConnected runs when ICE and DTLS are done: the session no longer
// counts as pending.
func (pr *peer) onConnected() {
	pr.mu.Lock()
	if pr.connected || pr.closing {
		pr.mu.Unlock()
		return
	}
	pr.connected = true
	if pr.iceTimer != nil {
		pr.iceTimer.Stop()
	}
	pr.mu.Unlock()
	pr.slot.release()
	pr.log.Debug("webrtc session connected")
}

// startLoop runs f as one of the peer's goroutines unless it is closing.
func (pr *peer) startLoop(f func()) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.closing {
		return false
	}
	pr.loops.Add(1)
	go func() {
		defer pr.loops.Done()
		f()
	}()
	return true
}

// shutdown closes the PeerConnection and makes the participant leave. It
// may be called from any goroutine, pion callbacks included, any number
// of times; the work happens once, in its own goroutine.
func (pr *peer) shutdown(reason string) {
	pr.closeOnce.Do(func() {
		pr.mu.Lock()
		pr.closing = true
		if pr.iceTimer != nil {
			pr.iceTimer.Stop()
		}
		pr.mu.Unlock()
		close(pr.done)
		go func() {
			err := pr.pc.GracefulClose()
			pr.loops.Wait()
			pr.mu.Lock()
			p, log := pr.p, pr.log
			pr.mu.Unlock()
			if p != nil {
				p.Leave()
			}
			log.Info("webrtc session ended", "reason", reason, "close_err", err)
			pr.slot.release()
			pr.g.forget(pr)
		}()
	})
}

// streamInfo describes a remote track for the capture header; ok is false
// for a codec that is not recorded. exts are the RTP header extensions
// negotiated for the track's kind, kept in the header (the converter
// reads the camera orientation through them).
func streamInfo(t *webrtc.TrackRemote, exts []webrtc.RTPHeaderExtensionParameter) (storage.StreamInfo, bool) {
	c := t.Codec()
	info := storage.StreamInfo{
		SSRC: uint32(t.SSRC()), PayloadType: uint8(t.PayloadType()),
		ClockRate: c.ClockRate, Fmtp: c.SDPFmtpLine,
		Extensions: headerExtensions(exts),
	}
	if name, ok := cutPrefixFold(c.MimeType, "video/"); ok {
		v := vcodec.FromName(name)
		if v == vcodec.Unknown {
			return info, false
		}
		info.Kind, info.Codec, info.ClockRate = storage.KindVideo, v.Name(), vcodec.ClockRate
		return info, true
	}
	if !strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
		return info, false
	}
	info.Kind, info.Codec, info.Channels = storage.KindAudio, storage.CodecOpus, c.Channels
	if info.Channels == 0 {
		info.Channels = 2
	}
	return info, true
}

// headerExtensions converts pion's negotiated extensions, sorted by ID so
// that headers do not depend on map order. IDs outside 1-255 cannot be
// in a packet (RFC 8285) and are left out.
func headerExtensions(exts []webrtc.RTPHeaderExtensionParameter) []storage.HeaderExtension {
	var out []storage.HeaderExtension
	for _, e := range exts {
		if e.ID < 1 || e.ID > 255 {
			continue
		}
		out = append(out, storage.HeaderExtension{ID: uint8(e.ID), URI: e.URI})
	}
	slices.SortFunc(out, func(a, b storage.HeaderExtension) int { return int(a.ID) - int(b.ID) })
	return out
}

// onTrack runs in a goroutine of pion's for each remote track; it becomes
// the track's read loop.
func (pr *peer) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	info, ok := streamInfo(t, r.GetParameters().HeaderExtensions)
	if !ok {
		pr.log.Warn("track with an unrecorded codec ignored", "codec", t.Codec().MimeType)
		return
	}
	if err := pr.p.AddStream(info); err != nil {
		pr.log.Warn("declare stream", "ssrc", info.SSRC, "err", err)
	}
	pr.log.Info("track", "kind", info.Kind, "codec", info.Codec, "ssrc", info.SSRC, "pt", info.PayloadType, "fmtp", info.Fmtp,
		"cvo_id", info.ExtensionID(vcodec.CVOURI))
	if info.Kind == storage.KindVideo {
		pr.mu.Lock()
		pr.videos = append(pr.videos, info.SSRC)
		pr.mu.Unlock()
	}
	if !pr.startLoop(func() { pr.readRTCP(r) }) {
		return
	}
	pr.startLoop(func() { pr.readRTP(t, info.Kind == storage.KindVideo) })
}

// readRTP records every packet of a track as pion hands it over,
// decrypted but otherwise untouched.
func (pr *peer) readRTP(t *webrtc.TrackRemote, video bool) {
	m := pr.g.metrics
	buf := make([]byte, readBufferSize)
	var last uint16
	var seen bool
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		m.PacketsReceived.Inc()
		m.BytesReceived.Add(float64(n))
		if n < 12 {
			m.DropMalformed.Inc()
			continue
		}
		if video {
			seq := uint16(buf[2])<<8 | uint16(buf[3])
			if d := seq - last; seen && d < 0x8000 {
				if d > 1 {
					pr.lossKeyframe(now)
				}
				last = seq
			} else if !seen {
				last, seen = seq, true
			}
		}
		pr.write(storage.RecordRTP, now, buf[:n])
	}
}

// readRTCP keeps a track's RTCP flowing through the interceptors and
// records the sender reports, which the converter syncs audio and video
// with.
func (pr *peer) readRTCP(r *webrtc.RTPReceiver) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now()
		for _, pkt := range pkts {
			sr, ok := pkt.(*rtcp.SenderReport)
			if !ok {
				continue
			}
			b, err := sr.Marshal()
			if err != nil {
				continue
			}
			pr.g.metrics.RTCPReceived.Inc()
			pr.write(storage.RecordRTCP, now, b)
		}
	}
}

func (pr *peer) write(kind storage.RecordKind, now time.Time, b []byte) {
	m := pr.g.metrics
	err := pr.p.Write(kind, now, b)
	switch {
	case err == nil:
		m.PacketsWritten.Inc()
		pr.recording.Store(true)
	case errors.Is(err, session.ErrNotRecording):
		m.DropNotRecord.Inc()
		// A sink (a cloud recording) may still take the packet: it needs
		// keyframes as much as a capture does.
		pr.recording.Store(pr.p.Observed())
	case errors.Is(err, session.ErrCaptureQueueFull):
		// Counted (capture_queue_full) by the session, which sees every
		// ingest's packets: not a second time as a write failure.
	default:
		m.DropWriteFailed.Inc()
	}
}

// lossKeyframe asks for a keyframe after a sequence gap, at most once per
// lossPLIInterval: the converter drops video from a loss to the next
// keyframe, and NACK may not repair everything.
func (pr *peer) lossKeyframe(now time.Time) {
	pr.mu.Lock()
	if now.Sub(pr.lastLoss) < lossPLIInterval {
		pr.mu.Unlock()
		return
	}
	pr.lastLoss = now
	pr.mu.Unlock()
	pr.requestKeyframe("loss")
}

// requestKeyframe sends a PLI for every video track.
func (pr *peer) requestKeyframe(reason string) {
	pr.mu.Lock()
	pkts := make([]rtcp.Packet, 0, len(pr.videos))
	for _, ssrc := range pr.videos {
		pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: ssrc})
	}
	pr.mu.Unlock()
	if len(pkts) == 0 {
		return
	}
	if err := pr.pc.WriteRTCP(pkts); err != nil {
		pr.log.Debug("keyframe request not sent", "reason", reason, "err", err)
		return
	}
	pr.log.Debug("keyframe requested", "reason", reason)
}

// keyframeTicker asks for a keyframe every interval while recording:
// browsers otherwise send one keyframe per connection, and a capture
// that begins later, or loses a packet, would wait for the next one.
func (pr *peer) keyframeTicker(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-pr.done:
			return
		case <-t.C:
			if pr.recording.Load() {
				pr.requestKeyframe("interval")
			}
		}
	}
}
