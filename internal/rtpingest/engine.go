package rtpingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpbatch"
)

// maxPacket is the largest RTP/RTCP packet recorded; larger ones are
// dropped as oversize (Janus' recorder draws the same line).
const maxPacket = 1500

// route sends one SSRC of one port to its participant. Its pin fields are
// touched only by the port's reader goroutine.
type route struct {
	p          *session.Participant
	host       *hostPin // shared by every route of the participant
	rtpSrc     udpbatch.Addr
	rtcpSrc    udpbatch.Addr
	rtpPinned  bool
	rtcpPinned bool
	// feedback is where RTCP feedback (keyframe requests) goes: the
	// stream's RTCP source, or its RTP source until RTCP is seen. Set
	// once per pin by the reader, read by whoever asks for a keyframe.
	feedback atomic.Pointer[net.UDPAddr]
}

// hostPin is the IP address a participant's first RTP packet came from.
// All of a participant's routes are on one port, so only that port's
// reader goroutine touches it.
type hostPin struct {
	src    udpbatch.Addr
	pinned bool
}

type routeTable map[uint32]*route

// port is one UDP socket and its SSRC table.
type port struct {
	num    int
	conn   *net.UDPConn
	gro    bool // the kernel merges datagrams for this port's reader
	routes atomic.Pointer[routeTable]
}

// Engine is the plain RTP ingest.
type Engine struct {
	bind      string
	first     int
	last      int
	rcvbuf    int
	batchSize int
	gro       bool
	log       *slog.Logger
	metrics   *metrics.Metrics

	mu     sync.Mutex // serialises route table changes
	ports  []*port
	wg     sync.WaitGroup
	closed bool
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithMetrics sets the instruments.
func WithMetrics(m *metrics.Metrics) Option { return func(e *Engine) { e.metrics = m } }

// WithReadBuffer sets the receive buffer asked for on each socket.
func WithReadBuffer(n int) Option { return func(e *Engine) { e.rcvbuf = n } }

// WithBatchSize sets how many datagrams one recvmmsg call may return.
func WithBatchSize(n int) Option { return func(e *Engine) { e.batchSize = n } }

// WithGRO turns UDP generic receive offload on or off (on by default): a
// sender's back-to-back datagrams of one size (a video frame's fragments)
// then take one pass through the kernel's receive path and arrive as one
// message, which the engine splits.
func WithGRO(on bool) Option { return func(e *Engine) { e.gro = on } }

// New makes an engine for the UDP ports first..last on the bind address.
func New(bind string, first, last int, opts ...Option) *Engine {
	e := &Engine{bind: bind, first: first, last: last, rcvbuf: 8 << 20, batchSize: 64, gro: true, log: slog.Default()}
	for _, o := range opts {
		o(e)
	}
	if e.metrics == nil {
		e.metrics = metrics.New()
	}
	e.log = e.log.With("component", "rtpingest")
	return e
}

// Start binds every port and starts its reader. A port that cannot be
// bound stops the start with an error naming it.
func (e *Engine) Start() error {
	for n := e.first; n <= e.last; n++ {
		addr := net.JoinHostPort(e.bind, strconv.Itoa(n))
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			e.Close()
			return fmt.Errorf("rtp port %s: %w", addr, err)
		}
		conn, err := net.ListenUDP("udp", ua)
		if err != nil {
			e.Close()
			return fmt.Errorf("rtp port %d: %w", n, err)
		}
		granted := udpbatch.SetReadBuffer(conn, e.rcvbuf)
		e.metrics.UDPBufferBytes.Set(float64(granted))
		if granted < e.rcvbuf {
			e.log.Warn("udp receive buffer smaller than asked; raise net.core.rmem_max", "port", n, "asked", e.rcvbuf, "granted", granted)
		} else {
			e.log.Debug("udp receive buffer", "port", n, "granted", granted)
		}
		var ropts []udpbatch.ReaderOption
		if e.gro {
			ropts = append(ropts, udpbatch.WithGRO())
		}
		br, err := udpbatch.NewReader(conn, e.batchSize, ropts...)
		if err != nil {
			_ = conn.Close()
			e.Close()
			return fmt.Errorf("rtp port %d: %w", n, err)
		}
		pt := &port{num: n, conn: conn, gro: br.GRO()}
		empty := routeTable{}
		pt.routes.Store(&empty)
		e.mu.Lock()
		e.ports = append(e.ports, pt)
		e.mu.Unlock()
		e.wg.Add(1)
		go e.readLoop(pt, br)
	}
	e.log.Info("rtp ingest listening", "ports", fmt.Sprintf("%d-%d", e.first, e.last), "bind", e.bind)
	return nil
}

// Close stops every reader and closes the sockets.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	for _, pt := range e.ports {
		_ = pt.conn.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Ports returns the bound port numbers.
func (e *Engine) Ports() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]int, 0, len(e.ports))
	for _, pt := range e.ports {
		out = append(out, pt.num)
	}
	return out
}

func (e *Engine) readLoop(pt *port, br *udpbatch.Reader) {
	defer e.wg.Done()
	for {
		n, err := br.Read()
		if err != nil {
			if udpbatch.IsClosed(err) {
				return
			}
			e.log.Warn("rtp read failed", "port", pt.num, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := time.Now()
		var st batchStats
		for i := 0; i < n; i++ {
			data, truncated, src := br.Datagram(i)
			e.message(pt, data, truncated, br.SegmentSize(i), src, now, &st)
		}
		st.publish(e.metrics)
	}
}

// batchStats counts one batch on the stack; the shared counters are
// touched once per batch instead of once per packet, which keeps port
// goroutines from contending on the same cache lines.
type batchStats struct {
	received, bytes, rtcp, written                            uint64
	oversize, malformed, unknown, wrongSource, notRec, failed uint64
}

func (st *batchStats) publish(m *metrics.Metrics) {
	add := func(c interface{ Add(float64) }, n uint64) {
		if n != 0 {
			c.Add(float64(n))
		}
	}
	add(m.PacketsReceived, st.received)
	add(m.BytesReceived, st.bytes)
	add(m.RTCPReceived, st.rtcp)
	add(m.PacketsWritten, st.written)
	add(m.DropOversize, st.oversize)
	add(m.DropMalformed, st.malformed)
	add(m.DropUnknownSSRC, st.unknown)
	add(m.DropWrongSource, st.wrongSource)
	add(m.DropNotRecord, st.notRec)
	add(m.DropWriteFailed, st.failed)
}

// handle is the packet path: validate, demultiplex, pin, record.
func (e *Engine) handle(pt *port, b []byte, truncated bool, src udpbatch.Addr, now time.Time, st *batchStats) {
	st.received++
	st.bytes += uint64(len(b))
	if truncated || len(b) > maxPacket {
		st.oversize++
		return
	}
	rtcp := isRTCP(b)
	var ssrc uint32
	if rtcp {
		if !validRTCP(b) {
			st.malformed++
			return
		}
		st.rtcp++
		ssrc = binary.BigEndian.Uint32(b[4:8])
	} else {
		if !validRTP(b) {
			st.malformed++
			return
		}
		ssrc = binary.BigEndian.Uint32(b[8:12])
	}
	r := (*pt.routes.Load())[ssrc]
	if r == nil {
		st.unknown++
		return
	}
	if !r.admit(rtcp, src) {
		st.wrongSource++
		return
	}
	kind := storage.RecordRTP
	if rtcp {
		kind = storage.RecordRTCP
	}
	err := r.p.Write(kind, now, b)
	switch {
	case err == nil:
		st.written++
	case errors.Is(err, session.ErrNotRecording):
		st.notRec++
	default:
		st.failed++
	}
	if rtcp {
		forEachBye(b, func(s uint32) {
			if rr := (*pt.routes.Load())[s]; rr != nil && rr.p == r.p {
				r.p.Bye(s)
			}
		})
	}
}

// message takes one message of a read: a datagram, or (seg > 0) datagrams
// of seg bytes each that the kernel merged.
func (e *Engine) message(pt *port, data []byte, truncated bool, seg int, src udpbatch.Addr, now time.Time, st *batchStats) {
	if seg == 0 || truncated {
		e.handle(pt, data, truncated, src, now, st)
		return
	}
	if e.handleMerged(pt, data, seg, src, now, st) {
		return
	}
	for off := 0; off < len(data); off += seg {
		e.handle(pt, data[off:min(off+seg, len(data))], false, src, now, st)
	}
}

// handleMerged records a merged message's datagrams in one capture write
// when they are what a merge normally holds: RTP packets of one known,
// admitted SSRC (a video frame's fragments). It reports false, having
// counted nothing, for anything else, which then goes datagram by datagram
// through handle.
func (e *Engine) handleMerged(pt *port, data []byte, seg int, src udpbatch.Addr, now time.Time, st *batchStats) bool {
	if seg > maxPacket || len(data) < 12 {
		return false
	}
	ssrc := binary.BigEndian.Uint32(data[8:12])
	n := 0
	for off := 0; off < len(data); off += seg {
		b := data[off:min(off+seg, len(data))]
		if isRTCP(b) || !validRTP(b) || binary.BigEndian.Uint32(b[8:12]) != ssrc {
			return false
		}
		n++
	}
	r := (*pt.routes.Load())[ssrc]
	if r == nil || !r.admit(false, src) {
		return false
	}
	st.received += uint64(n)
	st.bytes += uint64(len(data))
	err := r.p.WriteSegments(storage.RecordRTP, now, data, seg)
	switch {
	case err == nil:
		st.written += uint64(n)
	case errors.Is(err, session.ErrNotRecording):
		st.notRec += uint64(n)
	default:
		st.failed += uint64(n)
	}
	return true
}

// admit ties RTP and RTCP of an SSRC each to the source of its first
// packet (senders often send RTCP from the next port up) and reports
// whether src is the pinned one. Beyond that, all of a participant's
// streams, RTP and RTCP, must come from the host its first packet came
// from: an attacker who learns an SSRC cannot claim from elsewhere what the
// sender has not used yet (a forged RTCP BYE would end the session).
// RTCP may come first: ffmpeg sends a sender report before its first RTP
// packet.
func (r *route) admit(rtcp bool, src udpbatch.Addr) bool {
	pinned, at := &r.rtpPinned, &r.rtpSrc
	if rtcp {
		pinned, at = &r.rtcpPinned, &r.rtcpSrc
	}
	if *pinned {
		return *at == src
	}
	if r.host.pinned && !r.host.src.SameHost(src) {
		return false
	}
	r.host.src, r.host.pinned = src, true
	*at, *pinned = src, true
	if rtcp || r.feedback.Load() == nil {
		r.feedback.Store(src.UDPAddr())
	}
	return true
}

// pli is an RTCP Picture Loss Indication (RFC 4585 §6.3.1) asking the
// sender of mediaSSRC for a keyframe.
func pli(mediaSSRC uint32) []byte {
	b := []byte{0x81, 206, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], 1) // our own SSRC: any, we send nothing else
	binary.BigEndian.PutUint32(b[8:], mediaSSRC)
	return b
}

// requestKeyframes sends a PLI for every video stream whose sender has
// been heard from. Plain RTP senders that honour RTCP feedback (GStreamer,
// libwebrtc-based apps) then start the recording with a keyframe.
func (e *Engine) requestKeyframes(pt *port, video map[uint32]*route) {
	for ssrc, r := range video {
		if addr := r.feedback.Load(); addr != nil {
			if _, err := pt.conn.WriteToUDP(pli(ssrc), addr); err != nil {
				e.log.Debug("keyframe request failed", "ssrc", ssrc, "err", err)
			}
		}
	}
}

// Attach routes a participant's streams to one port and returns its
// number. The routes go away when the participant leaves.
func (e *Engine) Attach(p *session.Participant, streams []storage.StreamInfo) (int, error) {
	if len(streams) == 0 {
		return 0, ErrNoStreams
	}
	seen := map[uint32]bool{}
	for _, s := range streams {
		if seen[s.SSRC] {
			return 0, fmt.Errorf("%w: %d", ErrDuplicateSSRC, s.SSRC)
		}
		seen[s.SSRC] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrClosed
	}
	candidates := append([]*port(nil), e.ports...)
	sort.SliceStable(candidates, func(i, j int) bool {
		return len(*candidates[i].routes.Load()) < len(*candidates[j].routes.Load())
	})
	for _, pt := range candidates {
		cur := *pt.routes.Load()
		free := true
		for _, s := range streams {
			if cur[s.SSRC] != nil {
				free = false
				break
			}
		}
		if !free {
			continue
		}
		next := make(routeTable, len(cur)+len(streams))
		for k, v := range cur {
			next[k] = v
		}
		host := &hostPin{}
		video := map[uint32]*route{}
		for _, s := range streams {
			r := &route{p: p, host: host}
			next[s.SSRC] = r
			if s.Kind == storage.KindVideo {
				video[s.SSRC] = r
			}
		}
		pt.routes.Store(&next)
		p.OnLeave(func() { e.detach(pt, p) })
		if len(video) > 0 {
			p.SetKeyframeRequester(func() { e.requestKeyframes(pt, video) })
		}
		return pt.num, nil
	}
	return 0, ErrSSRCInUse
}

func (e *Engine) detach(pt *port, p *session.Participant) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := *pt.routes.Load()
	next := make(routeTable, len(cur))
	for k, v := range cur {
		if v.p != p {
			next[k] = v
		}
	}
	pt.routes.Store(&next)
}
