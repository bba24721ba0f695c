package rtpingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpbatch"
	"github.com/ars-project/ars/internal/vcodec"
)

// maxPacket is the largest RTP/RTCP packet recorded; larger ones are
// dropped as oversize (Janus' recorder draws the same line).
const maxPacket = 1500

// route sends one SSRC of one port to its participant. Its pin fields are
// touched only by the port's reader goroutine.
type route struct {
	p    *session.Participant
	pt   *port
	ssrc uint32
	// bound is the IP the stream must come from; unset, the first
	// source's IP is taken (see admit).
	bound      netip.Addr
	host       *hostPin // shared by every route of the participant
	rtpSrc     udpbatch.Addr
	rtcpSrc    udpbatch.Addr
	rtpPinned  bool
	rtcpPinned bool
	// rtpLast and rtcpLast are the unix-nano times of the last packets
	// admitted, for telling a NAT rebinding from a second sender.
	rtpLast, rtcpLast int64
	// video is a video stream (codec says which): it is watched for
	// keyframes and asked for one (PLI) while none has come since its
	// media began to be taken.
	video bool
	codec vcodec.Codec
	// cvoID is the header extension ID the sender declared for its
	// camera orientation, or 0; cvo is the last CVO byte seen plus one
	// (0: none yet).
	cvoID    uint8
	cvo      atomic.Uint32
	keyframe atomic.Bool
	// lastPLI is the unix-nano time of the last keyframe request.
	lastPLI atomic.Int64
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
	// onPin is told the address once, when it is first pinned
	// (OnHostPinned).
	onPin func(netip.Addr)
}

// routeTable maps an SSRC to its routes on a port: one, nearly always;
// several when channels use one SSRC, each bound to its own source IP
// (one of them may be unbound).
type routeTable map[uint32][]*route

// lookup finds the route of a packet: the only route of its SSRC, or the
// one bound to its source IP, or else the unbound one. It does not
// allocate.
func (t routeTable) lookup(ssrc uint32, src udpbatch.Addr) *route {
	rs := t[ssrc]
	switch len(rs) {
	case 0:
		return nil
	case 1:
		return rs[0]
	}
	ip := src.NetIP()
	var unbound *route
	for _, r := range rs {
		if !r.bound.IsValid() {
			unbound = r
		} else if r.bound == ip {
			return r
		}
	}
	return unbound
}

// port is one UDP socket and its SSRC table.
type port struct {
	num    int
	conn   *net.UDPConn
	gro    bool // the kernel merges datagrams for this port's reader
	routes atomic.Pointer[routeTable]
	// reader is made by Bind and read by Serve's goroutine.
	reader *udpbatch.Reader
}

// Engine is the plain RTP ingest.
type Engine struct {
	bind      string
	first     int
	last      int
	rcvbuf    int
	batchSize int
	gro       bool
	// rebindAfter is how long a pinned source must be silent before its
	// stream may move to a new port of the same IP (0: never).
	rebindAfter time.Duration
	pliInterval time.Duration
	log         *slog.Logger
	metrics     *metrics.Metrics

	// kick hands the keyframe loop a video route whose sender's address
	// was just learnt.
	kick chan *route
	stop chan struct{}

	mu      sync.Mutex // serialises route table changes
	ports   []*port
	wg      sync.WaitGroup
	closed  bool
	serving bool
	// inherit gives a socket systemd passed for a port (nil: bind).
	inherit   func(host string, port int) *net.UDPConn
	inherited int
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

// WithRebindAfter lets a pinned stream move to a new source port on the
// same IP once its old source has been silent this long (a NAT rebinding);
// 0 pins for good.
func WithRebindAfter(d time.Duration) Option { return func(e *Engine) { e.rebindAfter = d } }

// WithInherited takes the socket of a port from f when it has one (a
// socket systemd holds across restarts) instead of binding it.
func WithInherited(f func(host string, port int) *net.UDPConn) Option {
	return func(e *Engine) { e.inherit = f }
}

// Inherited is how many ports Bind took from WithInherited.
func (e *Engine) Inherited() int { return e.inherited }

// WithPLIInterval sets how often a video sender is asked for a keyframe
// while none has come.
func WithPLIInterval(d time.Duration) Option { return func(e *Engine) { e.pliInterval = d } }

// New makes an engine for the UDP ports first..last on the bind address.
func New(bind string, first, last int, opts ...Option) *Engine {
	e := &Engine{bind: bind, first: first, last: last, rcvbuf: 8 << 20, batchSize: 64, gro: true, log: slog.Default(),
		rebindAfter: time.Second, pliInterval: defaultPLIInterval, kick: make(chan *route, 1024), stop: make(chan struct{})}
	for _, o := range opts {
		o(e)
	}
	if e.pliInterval < 10*time.Millisecond {
		e.pliInterval = defaultPLIInterval
	}
	if e.metrics == nil {
		e.metrics = metrics.New()
	}
	e.log = e.log.With("component", "rtpingest")
	return e
}

// Start binds every port and starts its reader: Bind, then Serve.
func (e *Engine) Start() error {
	if err := e.Bind(); err != nil {
		return err
	}
	e.Serve()
	return nil
}

// Bind opens every port without reading from it yet: routes attached
// between Bind and Serve (the joins a restart brings back) are in place
// before the first queued packet is read. A port that cannot be bound
// stops it with an error naming it.
func (e *Engine) Bind() error {
	for n := e.first; n <= e.last; n++ {
		addr := net.JoinHostPort(e.bind, strconv.Itoa(n))
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			e.Close()
			return fmt.Errorf("rtp port %s: %w", addr, err)
		}
		var conn *net.UDPConn
		if e.inherit != nil && n != 0 {
			conn = e.inherit(e.bind, n)
		}
		if conn != nil {
			e.inherited++
		} else if conn, err = net.ListenUDP("udp", ua); err != nil {
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
		// The bound port: n, or the kernel's choice when n is 0 (tests).
		pt := &port{num: conn.LocalAddr().(*net.UDPAddr).Port, conn: conn, gro: br.GRO(), reader: br}
		empty := routeTable{}
		pt.routes.Store(&empty)
		e.mu.Lock()
		e.ports = append(e.ports, pt)
		e.mu.Unlock()
	}
	return nil
}

// Serve starts the ports' readers; call it once, after Bind.
func (e *Engine) Serve() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.serving {
		return
	}
	e.serving = true
	for _, pt := range e.ports {
		e.wg.Add(1)
		go e.readLoop(pt, pt.reader)
	}
	e.wg.Add(1)
	go e.keyframeLoop()
	e.log.Info("rtp ingest listening", "ports", fmt.Sprintf("%d-%d", e.first, e.last), "bind", e.bind)
}

// Close stops every reader and closes the sockets.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		close(e.stop)
	}
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
	rebinds                                                   uint64
	// queueFull is counted by the session (for every ingest); kept here
	// so that every datagram of a batch is accounted for.
	queueFull uint64
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
	add(m.Rebinds, st.rebinds)
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
	table := *pt.routes.Load()
	r := table.lookup(ssrc, src)
	if r == nil {
		st.unknown++
		return
	}
	if !e.admit(r, rtcp, src, now, st) {
		st.wrongSource++
		return
	}
	kind := storage.RecordRTP
	if rtcp {
		kind = storage.RecordRTCP
	} else if r.video {
		e.watchVideo(r, b)
	}
	err := r.p.Write(kind, now, b)
	st.count(err, 1)
	if rtcp {
		forEachBye(b, func(s uint32) {
			if rr := table.lookup(s, src); rr != nil && rr.p == r.p {
				r.p.Bye(s)
			}
		})
	}
}

// watchVideo follows a video packet for the keyframe loop: the first
// keyframe ends the requests for one; a change of the camera orientation
// (CVO) starts them again, because a recording shows a new orientation
// from its next keyframe on (a display matrix covers a whole MP4 track),
// and the sender would otherwise send one only at its next GOP. A few
// byte reads, no allocation.
func (e *Engine) watchVideo(r *route, b []byte) {
	if r.cvoID != 0 {
		if o, ok := vcodec.PacketOrientation(b, r.cvoID); ok {
			// The first orientation is no change: the recording starts in
			// it (and it may well come after the first keyframe).
			// The camera bit alone does not change the picture.
			v := uint32(o.Byte()&0x07) + 1
			if old := r.cvo.Swap(v); old != 0 && old != v && r.keyframe.Load() {
				r.keyframe.Store(false)
				select {
				case e.kick <- r:
				default: // the loop's next tick asks
				}
			}
		}
	}
	if !r.keyframe.Load() && isKeyframe(r.codec, b) {
		r.keyframe.Store(true)
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
	r := (*pt.routes.Load()).lookup(ssrc, src)
	if r == nil || !e.admit(r, false, src, now, st) {
		return false
	}
	st.received += uint64(n)
	st.bytes += uint64(len(data))
	if r.video {
		for off := 0; off < len(data); off += seg {
			e.watchVideo(r, data[off:min(off+seg, len(data))])
		}
	}
	err := r.p.WriteSegments(storage.RecordRTP, now, data, seg)
	st.count(err, uint64(n))
	return true
}

// count files n datagrams under what Write's err says became of them.
func (st *batchStats) count(err error, n uint64) {
	switch {
	case err == nil:
		st.written += n
	case errors.Is(err, session.ErrNotRecording):
		st.notRec += n
	case errors.Is(err, session.ErrCaptureQueueFull):
		st.queueFull += n // published by the session, which sees every ingest's packets
	default:
		st.failed += n
	}
}

// admit ties RTP and RTCP of an SSRC each to the source of its first
// packet (senders often send RTCP from the next port up) and reports
// whether src is the pinned one. Beyond that, all of a participant's
// streams, RTP and RTCP, must come from one host: the IP the join bound
// them to, or else the host its first packet came from. An attacker who
// learns an SSRC cannot claim from elsewhere what the sender has not used
// yet (a forged RTCP BYE would end the session). RTCP may come first:
// ffmpeg sends a sender report before its first RTP packet.
//
// A pinned source may move to another port of the same IP once it has
// been silent for rebindAfter: NATs rebind a quiet flow to a new port.
// RTCP follows an RTP move (it re-pins at its next packet) and so do
// keyframe requests.
func (e *Engine) admit(r *route, rtcp bool, src udpbatch.Addr, now time.Time, st *batchStats) bool {
	pinned, at, last := &r.rtpPinned, &r.rtpSrc, &r.rtpLast
	if rtcp {
		pinned, at, last = &r.rtcpPinned, &r.rtcpSrc, &r.rtcpLast
	}
	t := now.UnixNano()
	if *pinned {
		if *at == src {
			*last = t
			return true
		}
		if e.rebindAfter <= 0 || !at.SameHost(src) || t-*last < int64(e.rebindAfter) {
			return false
		}
		// A NAT rebinding: the old port has gone quiet, the same host
		// speaks from a new one.
		*at, *last = src, t
		st.rebinds++
		if !rtcp {
			r.rtcpPinned = false
		}
		r.feedback.Store(src.UDPAddr())
		return true
	}
	if r.bound.IsValid() && src.NetIP() != r.bound {
		return false
	}
	if r.host.pinned && !r.host.src.SameHost(src) {
		return false
	}
	first := !r.host.pinned
	r.host.src, r.host.pinned = src, true
	if first && r.host.onPin != nil {
		r.host.onPin(src.NetIP())
	}
	*at, *pinned, *last = src, true, t
	if rtcp || r.feedback.Load() == nil {
		r.feedback.Store(src.UDPAddr())
		if r.video {
			// The sender's address is known now: the keyframe loop asks
			// it for a keyframe if its media is being taken.
			select {
			case e.kick <- r:
			default: // the loop's next tick asks
			}
		}
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

// defaultPLIInterval is how often a video sender is asked for a keyframe
// while none has come: often enough that a lost request costs little,
// rarely enough that an encoder is not made to send keyframe after
// keyframe.
const defaultPLIInterval = 500 * time.Millisecond

// requestKeyframes forgets the keyframes seen (the recording or sink that
// starts needs one of its own) and asks every video sender heard from for
// one. Plain RTP senders that honour RTCP feedback (GStreamer,
// libwebrtc-based apps) then start the recording with a keyframe.
func (e *Engine) requestKeyframes(video []*route) {
	now := time.Now()
	for _, r := range video {
		r.keyframe.Store(false)
		e.sendPLI(r, now, true)
	}
}

// sendPLI asks r's sender for a keyframe unless one came, its media is not
// taken, its address is unknown or (unless forced) it was asked within
// the PLI interval. It runs off the packet path: the socket write may
// wait for buffer space.
func (e *Engine) sendPLI(r *route, now time.Time, force bool) {
	if r.keyframe.Load() || r.p.Left() || !r.p.Wanted() {
		return
	}
	addr := r.feedback.Load()
	if addr == nil {
		return
	}
	t := now.UnixNano()
	if !force && t-r.lastPLI.Load() < int64(e.pliInterval) {
		return
	}
	r.lastPLI.Store(t)
	if _, err := r.pt.conn.WriteToUDP(pli(r.ssrc), addr); err != nil {
		e.log.Debug("keyframe request failed", "ssrc", r.ssrc, "err", err)
		return
	}
	e.metrics.PLIsSent.Inc()
}

// keyframeLoop asks video senders for keyframes: at once when a sender's
// address is learnt, then every PLI interval until a keyframe arrives.
func (e *Engine) keyframeLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.pliInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case r := <-e.kick:
			e.sendPLI(r, time.Now(), false)
		case now := <-t.C:
			e.mu.Lock()
			ports := append([]*port(nil), e.ports...)
			e.mu.Unlock()
			for _, pt := range ports {
				for _, rs := range *pt.routes.Load() {
					for _, r := range rs {
						if r.video {
							e.sendPLI(r, now, false)
						}
					}
				}
			}
		}
	}
}

// AttachOption qualifies one Attach.
type AttachOption func(*attachConfig)

type attachConfig struct {
	bound netip.Addr
	port  int // 0: the least loaded port
	onPin func(netip.Addr)
}

// OnHostPinned calls f once with the IP address the participant's first
// packet came from: from then on its streams are taken from that host
// only. A caller keeps it so that a restart can bind the join to it
// (BindSource) instead of pinning anew to whoever sends first. f runs on
// the packet path, once per participant: it must not block.
func OnHostPinned(f func(netip.Addr)) AttachOption {
	return func(c *attachConfig) { c.onPin = f }
}

// AtPort attaches to the port with that number (a join a restart brings
// back keeps the port its sender was told), failing with ErrNoSuchPort
// if the engine has no such port.
func AtPort(n int) AttachOption {
	return func(c *attachConfig) { c.port = n }
}

// BindSource binds the participant's streams to one sender IP: packets
// from any other address are dropped as wrong_source, even before the
// sender's first packet.
func BindSource(ip netip.Addr) AttachOption {
	return func(c *attachConfig) { c.bound = ip.Unmap() }
}

// Attach routes a participant's streams to one port and returns its
// number. The routes go away when the participant leaves.
func (e *Engine) Attach(p *session.Participant, streams []storage.StreamInfo, opts ...AttachOption) (int, error) {
	var cfg attachConfig
	for _, o := range opts {
		o(&cfg)
	}
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
	// An SSRC is reserved per channel: within one channel two streams of
	// one SSRC could not be told apart by a recording's reader.
	for _, pt := range e.ports {
		cur := *pt.routes.Load()
		for _, s := range streams {
			for _, r := range cur[s.SSRC] {
				if r.p.Channel() == p.Channel() {
					return 0, fmt.Errorf("%w: ssrc %d in channel %q", ErrSSRCInUse, s.SSRC, p.Channel())
				}
			}
		}
	}
	candidates := append([]*port(nil), e.ports...)
	if cfg.port != 0 {
		candidates = slices.DeleteFunc(candidates, func(pt *port) bool { return pt.num != cfg.port })
		if len(candidates) == 0 {
			return 0, fmt.Errorf("%w: %d", ErrNoSuchPort, cfg.port)
		}
	}
	// A port where none of the SSRCs is routed yet comes first, then the
	// least loaded: sharing an SSRC with a route bound to another join's
	// address would hand that join every packet the new one sends from the
	// same address (a resumed join is bound to its pinned host, and a new
	// sender on that host may well reuse its SSRCs).
	clashes := func(pt *port) int {
		cur := *pt.routes.Load()
		n := 0
		for _, s := range streams {
			n += len(cur[s.SSRC])
		}
		return n
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		ci, cj := clashes(candidates[i]), clashes(candidates[j])
		if ci != cj {
			return ci < cj
		}
		return len(*candidates[i].routes.Load()) < len(*candidates[j].routes.Load())
	})
	for _, pt := range candidates {
		cur := *pt.routes.Load()
		free := true
		for _, s := range streams {
			for _, r := range cur[s.SSRC] {
				// Routes of one SSRC on a port are told apart by their
				// bound IPs, with at most one unbound among them.
				if r.bound == cfg.bound {
					free = false
				}
			}
		}
		if !free {
			continue
		}
		next := make(routeTable, len(cur)+len(streams))
		for k, v := range cur {
			next[k] = v
		}
		host := &hostPin{onPin: cfg.onPin}
		var video []*route
		for _, s := range streams {
			codec := vcodec.Unknown
			if s.Kind == storage.KindVideo {
				codec = vcodec.FromName(s.Codec)
			}
			r := &route{p: p, pt: pt, ssrc: s.SSRC, bound: cfg.bound, host: host, video: codec != vcodec.Unknown, codec: codec}
			if r.video {
				r.cvoID = s.ExtensionID(vcodec.CVOURI)
			}
			next[s.SSRC] = append(append([]*route(nil), cur[s.SSRC]...), r)
			if r.video {
				video = append(video, r)
			}
		}
		pt.routes.Store(&next)
		p.OnLeave(func() { e.detach(pt, p) })
		if len(video) > 0 {
			p.SetKeyframeRequester(func() { e.requestKeyframes(video) })
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
	for k, rs := range cur {
		var keep []*route
		for _, r := range rs {
			if r.p != p {
				keep = append(keep, r)
			}
		}
		if len(keep) == len(rs) {
			next[k] = rs
		} else if len(keep) > 0 {
			next[k] = keep
		}
	}
	pt.routes.Store(&next)
}
