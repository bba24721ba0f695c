package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/state"
	"github.com/ars-project/ars/internal/storage"
)

// Reasons a recording stops, as logged and counted.
const (
	StopRequested = "requested"
	StopLastLeft  = "last_participant_left"
	StopIdle      = "idle"
	StopShutdown  = "shutdown"
)

// channel is one named channel: its participants and its recording, if any.
type channel struct {
	name string
	// rec is read on the packet path; written under Manager.mu.
	rec          atomic.Pointer[recording]
	participants map[uint32]*Participant
	// sinks are read on the packet path; written under Manager.mu.
	sinks atomic.Pointer[[]Sink]
}

// Manager owns every channel. It is the one place that decides when
// recordings start and stop.
type Manager struct {
	layout          storage.Layout
	log             *slog.Logger
	metrics         *metrics.Metrics
	idleTimeout     time.Duration
	flushInterval   time.Duration
	crashDir        string
	maxParticipants int
	maxTotal        int
	maxPerClient    int
	maxChannels     int
	openWorkers     int
	pendPackets     int
	pendBytes       int
	captureClosed   func(path string)
	// recs keeps recordings for the next start (nil: not kept).
	recs *state.Table[recordingRecord]

	// opens carries participants whose first packets wait for a capture
	// file to the open workers; queues pools those packets' queues.
	opens  chan *Participant
	queues sync.Pool
	// deps is what every participant is given at Join.
	deps participantDeps

	mu       sync.Mutex
	channels map[string]*channel
	byID     map[string]*Participant
	// perClient counts the participants each client address joined.
	perClient map[netip.Addr]int
	closed    bool

	wg      sync.WaitGroup // background finalisation
	workers sync.WaitGroup // capture open workers
	// flushList is flushAll's participant list, reused (the loop's own).
	flushList []*Participant
	// lastTick is the unix-nano time the housekeeping loop last ran.
	lastTick atomic.Int64
	stop     chan struct{}
	done     chan struct{}
}

// New makes a Manager that records under layout.
func New(layout storage.Layout, opts ...Option) *Manager {
	m := &Manager{
		layout:          layout,
		log:             slog.Default(),
		idleTimeout:     30 * time.Second,
		flushInterval:   500 * time.Millisecond,
		maxParticipants: 1000,
		openWorkers:     defaultOpenWorkers,
		pendPackets:     defaultPendingPackets,
		pendBytes:       defaultPendingBytes,
		opens:           make(chan *Participant, openQueueLen),
		channels:        map[string]*channel{},
		byID:            map[string]*Participant{},
		perClient:       map[netip.Addr]int{},
		stop:            make(chan struct{}),
		done:            make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	m.queues.New = func() any { return newPendingQueue(m.pendBytes, m.pendPackets) }
	if m.metrics == nil {
		m.metrics = metrics.New()
	}
	m.log = m.log.With("component", "session")
	m.deps = m.participantDeps()
	return m
}

// Start resumes the recordings the state store holds, marks the other
// recordings a crash interrupted and starts the housekeeping loop
// (flushing captures, ending idle participants and recordings).
func (m *Manager) Start() error {
	// First: captures a crash left are whole again before recordings
	// resume and conversion reads them.
	if err := m.recoverBuffers(); err != nil {
		return err
	}
	m.mu.Lock()
	restored, err := m.restoreRecordings()
	m.mu.Unlock()
	if err != nil {
		return err
	}
	dirs, err := m.layout.FindInterrupted()
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if restored[filepath.Clean(dir)] {
			continue
		}
		md, err := storage.ReadMetadata(dir)
		if err != nil {
			m.log.Warn("interrupted recording has no readable metadata", "dir", dir, "err", err)
		}
		if md.ErrorStatus == "" {
			md.ErrorStatus = storage.StatusInterrupted
		}
		if err := storage.WriteMetadata(dir, md); err != nil {
			return fmt.Errorf("mark interrupted recording %s: %w", dir, err)
		}
		if err := storage.ClearActive(dir); err != nil {
			return err
		}
		m.log.Warn("marked recording interrupted by an earlier crash", "dir", dir)
	}
	go m.loop()
	for range m.openWorkers {
		m.workers.Add(1)
		go m.openLoop()
	}
	return nil
}

// prewarmQueues puts n first-packet queues in the pool, on the caller's
// goroutine (the API's), for participants about to send their first
// packets to a recording: the ports' readers then take them without
// allocating. The pool lets them go at the next collections if unused.
func (m *Manager) prewarmQueues(n int) {
	for range n {
		m.queues.Put(newPendingQueue(m.pendBytes, m.pendPackets))
	}
}

// openLoop opens the capture files of participants whose first packets
// are waiting, off the ingests' reader goroutines.
func (m *Manager) openLoop() {
	defer m.workers.Done()
	for {
		select {
		case <-m.stop:
			return
		case p := <-m.opens:
			p.openPending()
		}
	}
}

// Close stops every recording (finalising its captures) and removes every
// participant. It returns when all captures are closed or ctx ends.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var names []string
	var everyone []*Participant
	for name, ch := range m.channels {
		names = append(names, name)
		for _, p := range ch.participants {
			everyone = append(everyone, p)
		}
	}
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	m.workers.Wait()
	// Each stop fsyncs its captures, Metadata.txt and the store: side by
	// side they share the disk's flushes (the store batches its commits),
	// which keeps a planned restart's outage short (docs/operations.md,
	// "Planned restarts and the receive buffer").
	inParallel(len(names), func(i int) { m.StopRecording(names[i], StopShutdown) })
	for _, p := range everyone {
		m.leave(p, StopShutdown)
	}
	finished := make(chan struct{})
	go func() { m.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("finalise captures: %w", ctx.Err())
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// Join adds uid to a channel. A uid already in the channel is replaced: its
// old session leaves (its capture closes) and the new one starts afresh.
func (m *Manager) Join(channelName string, uid uint32, source string, streams []storage.StreamInfo, opts ...JoinOption) (*Participant, error) {
	if err := storage.ValidateChannelName(channelName); err != nil {
		return nil, err
	}
	if uid == 0 {
		return nil, ErrBadUID
	}
	now := time.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	ch, err := m.channelLocked(channelName)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	p := &Participant{
		id: newID(), uid: uid, source: source, since: now, channel: ch, deps: m.deps,
		streams: append([]storage.StreamInfo(nil), streams...),
	}
	for _, o := range opts {
		o(p)
	}
	old := ch.participants[uid]
	if err := m.admitLocked(ch, old, p); err != nil {
		m.dropChannelLocked(ch)
		m.mu.Unlock()
		return nil, err
	}
	p.lastMedia.Store(now.UnixNano())
	if old != nil {
		m.removeLocked(old)
	}
	ch.participants[uid] = p
	m.byID[p.id] = p
	if p.client.IsValid() {
		m.perClient[p.client]++
	}
	m.metrics.ActiveParticipants.Inc()
	watchers := ch.membershipSinks()
	recording := ch.rec.Load() != nil
	m.mu.Unlock()
	if old != nil {
		m.finishLeave(old, "replaced")
	}
	if recording {
		m.prewarmQueues(1)
	}
	for _, w := range watchers {
		w.Joined(p)
	}
	m.log.Info("participant joined", "channel", channelName, "uid", uid, "source", source, "streams", len(streams))
	return p, nil
}

// admitLocked applies the caps to p joining ch (replacing old, if any).
func (m *Manager) admitLocked(ch *channel, old, p *Participant) error {
	refuse := func(reason string, err error) error {
		m.metrics.JoinsRefused.WithLabelValues(reason).Inc()
		return err
	}
	sameClient := old != nil && old.client == p.client
	if old == nil && len(ch.participants) >= m.maxParticipants {
		return refuse(metrics.RefusedChannelFull, ErrTooManyParticipants)
	}
	if old == nil && m.maxTotal > 0 && len(m.byID) >= m.maxTotal {
		return refuse(metrics.RefusedParticipants, ErrServerFull)
	}
	if !sameClient && p.client.IsValid() && m.maxPerClient > 0 && m.perClient[p.client] >= m.maxPerClient {
		return refuse(metrics.RefusedPerIP, ErrTooManyJoins)
	}
	return nil
}

// channelLocked finds or makes a channel, within the channel cap.
func (m *Manager) channelLocked(name string) (*channel, error) {
	ch := m.channels[name]
	if ch == nil {
		if m.maxChannels > 0 && len(m.channels) >= m.maxChannels {
			m.metrics.JoinsRefused.WithLabelValues(metrics.RefusedChannels).Inc()
			return nil, ErrTooManyChannels
		}
		ch = &channel{name: name, participants: map[uint32]*Participant{}}
		m.channels[name] = ch
		m.metrics.ActiveChannels.Inc()
	}
	return ch, nil
}

// dropChannelLocked forgets a channel nobody is in and nothing records.
func (m *Manager) dropChannelLocked(ch *channel) {
	if len(ch.participants) == 0 && ch.rec.Load() == nil && ch.sinks.Load() == nil && m.channels[ch.name] == ch {
		delete(m.channels, ch.name)
		m.metrics.ActiveChannels.Dec()
	}
}

// Participant finds a participant by ID.
func (m *Manager) Participant(id string) *Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[id]
}

// removeLocked takes p out of the maps; it reports false if p had already left.
func (m *Manager) removeLocked(p *Participant) bool {
	if !p.left.CompareAndSwap(false, true) {
		return false
	}
	if p.channel.participants[p.uid] == p {
		delete(p.channel.participants, p.uid)
	}
	delete(m.byID, p.id)
	if p.client.IsValid() {
		if m.perClient[p.client]--; m.perClient[p.client] <= 0 {
			delete(m.perClient, p.client)
		}
	}
	m.metrics.ActiveParticipants.Dec()
	return true
}

// leave removes p; when it was the last participant of a recording
// channel, the recording stops.
func (m *Manager) leave(p *Participant, reason string) {
	m.mu.Lock()
	if !m.removeLocked(p) {
		m.mu.Unlock()
		return
	}
	ch := p.channel
	lastOut := len(ch.participants) == 0 && ch.rec.Load() != nil && reason != StopShutdown
	m.dropChannelLocked(ch)
	m.mu.Unlock()
	m.finishLeave(p, reason)
	if lastOut {
		m.StopRecording(ch.name, StopLastLeft)
	}
}

func (m *Manager) finishLeave(p *Participant, reason string) {
	p.leftReason.Store(&reason)
	if c := p.detachCapture(p.channel.rec.Load()); c != nil {
		m.finishCapture(c)
	}
	for _, w := range p.channel.membershipSinks() {
		w.Left(p)
	}
	p.leaveOnce.Do(func() {
		p.mu.Lock()
		hooks := p.onLeave
		p.onLeave = nil
		p.mu.Unlock()
		for _, f := range hooks {
			f()
		}
	})
	m.log.Info("participant left", "channel", p.channel.name, "uid", p.uid, "reason", reason)
}

// finishCapture closes a capture and hands it on for conversion.
func (m *Manager) finishCapture(c *capture) {
	err := c.w.Close()
	m.metrics.OpenFiles.Dec()
	if err != nil {
		m.metrics.WriteErrors.Inc()
		m.recordingFailed(c.rec, err)
	}
	records, bytes := c.w.Stats()
	m.log.Info("capture closed", "file", c.path, "records", records, "bytes", bytes)
	if m.captureClosed != nil {
		m.captureClosed(c.path)
	}
}

// recordingFailed marks a recording's Metadata.txt with write_failed once.
func (m *Manager) recordingFailed(rec *recording, cause error) {
	if !rec.setStatus(storage.StatusWriteFailed) {
		return
	}
	m.log.Error("recording write error", "dir", rec.dir, "err", cause)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.writeMetadata(rec)
	}()
}

func (m *Manager) writeMetadata(rec *recording) {
	md := rec.metadata(rec.channel)
	if err := storage.WriteMetadata(rec.dir, md); err != nil {
		m.log.Error("metadata write error", "dir", rec.dir, "err", err)
	}
}

// StartRecording starts recording a channel. The first valid start wins;
// later starts while it records change nothing and report started=false.
func (m *Manager) StartRecording(channelName string, uid uint32, tag string) (RecordingInfo, bool, error) {
	if err := storage.ValidateChannelName(channelName); err != nil {
		return RecordingInfo{}, false, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return RecordingInfo{}, false, ErrClosed
	}
	ch, err := m.channelLocked(channelName)
	if err != nil {
		m.mu.Unlock()
		return RecordingInfo{}, false, err
	}
	if rec := ch.rec.Load(); rec != nil {
		m.mu.Unlock()
		return rec.info(channelName), false, nil
	}
	now := time.Now()
	dir, err := m.layout.CreateRecordingDir(channelName, now)
	if err == nil {
		rec := &recording{dir: dir, tag: tag, startedAt: now, startedBy: uid, channel: channelName}
		if err = storage.WriteMetadata(dir, rec.metadata(channelName)); err == nil {
			err = storage.MarkActive(dir)
		}
		if err == nil {
			// Written before the start is answered: a crash after the
			// answer finds it.
			err = m.persist(rec, false)
		}
		if err == nil {
			ch.rec.Store(rec)
		}
	}
	if err != nil {
		if dir != "" {
			// Nothing records into it: left behind it would be a recording
			// without its Metadata.txt (a full disk, say).
			_ = os.RemoveAll(dir)
		}
		m.dropChannelLocked(ch)
		m.mu.Unlock()
		m.log.Error("recording start error", "channel", channelName, "err", err)
		return RecordingInfo{}, false, err
	}
	rec := ch.rec.Load()
	everyone := make([]*Participant, 0, len(ch.participants))
	for _, p := range ch.participants {
		everyone = append(everyone, p)
	}
	m.metrics.RecordingsStarted.Inc()
	m.metrics.RecordingChannels.Inc()
	m.mu.Unlock()
	m.log.Info("recording started", "channel", channelName, "uid", uid, "dir", dir)
	m.prewarmQueues(len(everyone))
	for _, p := range everyone {
		p.requestKeyframe()
	}
	return rec.info(channelName), true, nil
}

// StopRecording ends a channel's recording, closing every capture before
// it returns. It reports false when the channel was not recording.
func (m *Manager) StopRecording(channelName, reason string) bool {
	m.mu.Lock()
	ch := m.channels[channelName]
	if ch == nil {
		m.mu.Unlock()
		return false
	}
	rec := ch.rec.Swap(nil)
	if rec == nil {
		m.mu.Unlock()
		return false
	}
	everyone := make([]*Participant, 0, len(ch.participants))
	for _, p := range ch.participants {
		everyone = append(everyone, p)
	}
	m.dropChannelLocked(ch)
	m.metrics.RecordingChannels.Dec()
	m.metrics.RecordingsStopped.WithLabelValues(reason).Inc()
	m.mu.Unlock()
	for _, p := range everyone {
		if c := p.detachCapture(rec); c != nil {
			m.finishCapture(c)
		}
	}
	m.writeMetadata(rec)
	if reason == StopShutdown && m.recs != nil {
		// The next daemon resumes it: the directory stays marked
		// active, and the store says the shutdown was clean.
		if err := m.persist(rec, true); err != nil {
			m.log.Error("recording not suspended: the next start marks it interrupted", "dir", rec.dir, "err", err)
		}
		m.log.Info("recording suspended for the next start", "channel", channelName, "dir", rec.dir)
		return true
	}
	if err := storage.ClearActive(rec.dir); err != nil {
		m.log.Error("recording marker error", "dir", rec.dir, "err", err)
	}
	m.log.Info("recording stopped", "channel", channelName, "reason", reason, "dir", rec.dir)
	// Last: a crash before it leaves a record whose directory is no
	// longer marked active, which the next start forgets.
	m.forget(channelName)
	return true
}

// loop flushes captures and ends what has gone idle.
func (m *Manager) loop() {
	defer close(m.done)
	m.lastTick.Store(time.Now().UnixNano())
	t := time.NewTicker(m.flushInterval)
	defer t.Stop()
	// The flush runs every ARS_FLUSH_INTERVAL (50 ms) so that a crash
	// loses little; the idle rule counts seconds and costs a pass over
	// every participant, so it runs far less often (bench/findings.md,
	// "Flush interval and CPU per packet").
	idleEvery := min(time.Second, max(m.flushInterval, m.idleTimeout/10))
	var lastIdle time.Time
	for {
		select {
		case <-m.stop:
			m.flushAll(time.Now())
			return
		case now := <-t.C:
			m.flushAll(now)
			if now.Sub(lastIdle) >= idleEvery {
				lastIdle = now
				m.expireIdle(now)
			}
			m.lastTick.Store(time.Now().UnixNano())
		}
	}
}

func (m *Manager) snapshot() []*Participant { return m.appendParticipants(nil) }

// appendParticipants appends every participant to buf.
func (m *Manager) appendParticipants(buf []*Participant) []*Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	buf = slices.Grow(buf, len(m.byID))
	for _, p := range m.byID {
		buf = append(buf, p)
	}
	return buf
}

// flushAll runs on the housekeeping loop only, every flush interval (a
// few tens of milliseconds): it reuses one participant list instead of
// making a new one each time.
func (m *Manager) flushAll(now time.Time) {
	m.flushList = m.appendParticipants(m.flushList[:0])
	for _, p := range m.flushList {
		if c := p.capture.Load(); c != nil {
			// ErrClosed: a stop or a leave closed it after the load,
			// which is no write failure (nor a reason to pause the
			// participant's next capture).
			if err := c.w.Flush(); err != nil && !errors.Is(err, storage.ErrClosed) {
				p.captureFailed(c, now)
			}
		}
	}
	clear(m.flushList) // no participant kept alive by the list
}

func (m *Manager) expireIdle(now time.Time) {
	limit := now.Add(-m.idleTimeout).UnixNano()
	for _, p := range m.snapshot() {
		if p.lastMedia.Load() < limit {
			m.leave(p, StopIdle)
		}
	}
	var idle []string
	m.mu.Lock()
	for name, ch := range m.channels {
		if rec := ch.rec.Load(); rec != nil && len(ch.participants) == 0 && rec.idleFrom().UnixNano() < limit {
			idle = append(idle, name)
		}
	}
	m.mu.Unlock()
	for _, name := range idle {
		m.StopRecording(name, StopIdle)
	}
}

// UserStatus describes one participant in a status answer.
type UserStatus struct {
	UID    uint32
	Since  time.Time
	Source string
	File   string
	ID     string
}

// ChannelStatus is a channel's state for the status API and console.
type ChannelStatus struct {
	Channel   string
	Recording *RecordingInfo
	Users     []UserStatus
}

// Status reports a channel's state; an unknown channel is simply empty.
func (m *Manager) Status(channelName string) ChannelStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked(channelName, m.channels[channelName])
}

func (m *Manager) statusLocked(name string, ch *channel) ChannelStatus {
	st := ChannelStatus{Channel: name, Users: []UserStatus{}}
	if ch == nil {
		return st
	}
	if rec := ch.rec.Load(); rec != nil {
		info := rec.info(name)
		st.Recording = &info
	}
	for _, p := range ch.participants {
		st.Users = append(st.Users, UserStatus{UID: p.uid, Since: p.since, Source: p.source, File: p.CaptureFile(), ID: p.id})
	}
	sort.Slice(st.Users, func(i, j int) bool { return st.Users[i].UID < st.Users[j].UID })
	return st
}

// Channels reports every active channel, sorted by name.
func (m *Manager) Channels() []ChannelStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ChannelStatus, 0, len(m.channels))
	for name, ch := range m.channels {
		out = append(out, m.statusLocked(name, ch))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out
}

// Metrics exposes the instruments the manager counts with.
func (m *Manager) Metrics() *metrics.Metrics { return m.metrics }

// Healthy reports whether the housekeeping loop (which flushes every
// capture) ran recently: the watchdog's test of progress.
func (m *Manager) Healthy() bool {
	return time.Since(time.Unix(0, m.lastTick.Load())) < 10*m.flushInterval+5*time.Second
}

// parallelIO is how many recordings start or stop their disk work at once
// when the daemon starts or stops.
const parallelIO = 16

// inParallel runs f(0..n-1), parallelIO at a time, and waits for them.
func inParallel(n int, f func(i int)) {
	sem := make(chan struct{}, parallelIO)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
