package mixer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/vcodec"
)

func (m *Mixer) join(s mixproto.Source) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sources[s.ID]; ok {
		return nil
	}
	if m.joined >= MaxSources {
		return ErrTooManySources
	}
	m.joined++
	// The video branch waits for the first unit: only units name their
	// codec.
	src := &source{id: s.ID, wantVideo: s.Video && m.comp != nil}
	var err error
	if s.Audio {
		if src.audio, err = m.audioBranch(s.ID); err != nil {
			return err
		}
	}
	m.sources[s.ID] = src
	m.applyLocked()
	return nil
}

func (m *Mixer) leave(id uint32) {
	m.mu.Lock()
	src := m.sources[id]
	delete(m.sources, id)
	m.mu.Unlock()
	if src == nil {
		return
	}
	for _, b := range []*branch{src.video, src.audio} {
		if b != nil && !b.ended {
			b.ended = true
			b.src.EndStream()
		}
	}
}

func (m *Mixer) media(video bool, u mixproto.Media) {
	m.mu.Lock()
	src := m.sources[u.Source]
	if src == nil {
		m.mu.Unlock()
		return
	}
	b := src.audio
	var meta mixproto.VideoMeta
	if video {
		var err error
		if meta, err = u.Video(); err != nil {
			if !src.badFlags {
				src.badFlags = true
				m.log.Warn("video unit refused", "source", src.id, "error", err)
			}
			m.mu.Unlock()
			return
		}
		b = m.videoLocked(src, meta.Codec)
	}
	if b == nil || b.ended {
		m.mu.Unlock()
		return
	}
	if !m.cfg.Live {
		// The pipe is the back-pressure: read on only when the output is
		// near this unit.
		for !m.ending && m.failed == nil && u.PTS-m.outPTS > int64(aheadLimit) {
			m.cond.Wait()
		}
		if u.PTS < b.last {
			// Offline input must be in order; a unit behind its
			// predecessor is dropped rather than confuse the decoder.
			m.mu.Unlock()
			return
		}
		if u.PTS > m.fedUpTo {
			m.fedUpTo = u.PTS
		}
		m.gapsLocked(u.PTS)
		m.cond.Broadcast()
	}
	if video && !b.keyed {
		if !meta.Key {
			// A decoder starts at a keyframe; what comes before one (a
			// restarted mixer's first units) would only be its errors.
			m.mu.Unlock()
			return
		}
		b.keyed = true
	}
	b.last = u.PTS
	m.mu.Unlock()

	rt := u.PTS + m.offset
	if rt < 0 {
		return
	}
	if video {
		// Before the push: the probe may see the picture at once.
		b.turn.unit(rt, meta.Orientation)
	}
	buf := gst.NewBufferFromBytes(u.Data)
	buf.SetPresentationTimestamp(gst.ClockTime(rt))
	if !video {
		buf.SetDuration(gst.ClockTime(20 * time.Millisecond))
	}
	b.src.PushBuffer(buf)
}

// videoLocked returns the source's video branch for a unit of codec c. It
// is built at the source's first video unit and built again when the
// codec changes (a sender that started a new stream with another codec):
// the old branch ends as a leaver's does, the new one takes the source's
// window. That is a join's and a leave's work, which the pipeline does
// while it runs anyway; feeding the old decoder the new codec would only
// make errors. nil: the source has no video here, or its units of c are
// dropped.
func (m *Mixer) videoLocked(s *source, c vcodec.Codec) *branch {
	if !s.wantVideo {
		return nil
	}
	if b := s.video; b != nil && (b.codec == c || b.ended) {
		// An ended branch (the composite ending, a failed decoder) is
		// not built again.
		return b
	}
	bit := uint8(1) << c
	if s.refused&bit != 0 {
		return nil
	}
	if s.videoBranches >= maxVideoBranches {
		s.refused |= bit
		m.log.Warn("video codec changed too often: its units are dropped", "source", s.id, "codec", c, "branches", s.videoBranches)
		return nil
	}
	nb, err := m.videoBranch(s.id, s.videoBranches, c)
	if err != nil {
		s.refused |= bit
		m.log.Warn("no video branch: its units are dropped", "source", s.id, "codec", c, "error", err)
		return nil
	}
	s.videoBranches++
	if old := s.video; old != nil {
		m.log.Info("video codec changed: new decoding branch", "source", s.id, "from", old.codec, "to", c)
		old.ended = true
		old.src.EndStream()
	}
	s.video = nb
	m.applyLocked()
	return nb
}

// gapsLocked tells the aggregators not to wait for sources that have
// sent nothing for a while (offline composites only: live ones time out).
func (m *Mixer) gapsLocked(now int64) {
	for _, s := range m.sources {
		for _, b := range []*branch{s.video, s.audio} {
			// A branch that has had no unit yet has no caps: a gap event
			// there crashes the compositor of GStreamer 1.22.0.
			if b == nil || b.ended || b.last < 0 {
				continue
			}
			from := b.last
			if now-from < int64(staleAfter) {
				continue
			}
			to := now - int64(staleAfter)/2
			if b.pad.SendEvent(gst.NewGapEvent(gst.ClockTime(from+m.offset), gst.ClockTime(to-from))) {
				b.last = to
			}
		}
	}
}

func (m *Mixer) setLayout(l mixproto.Layout) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.layout = l
	if m.bg != nil {
		m.bg.SetArg("foreground-color", fmt.Sprint(0xff000000|l.Background))
	}
	m.applyLocked()
}

// applyLocked puts every source's picture where the layout says; a
// source without a window is not drawn.
func (m *Mixer) applyLocked() {
	if m.comp == nil {
		return
	}
	wins := map[uint32]mixproto.Window{}
	for _, w := range m.layout.Windows {
		wins[w.Source] = w
	}
	for id, s := range m.sources {
		b := s.video
		if b == nil {
			continue
		}
		w, ok := wins[id]
		if !ok {
			// Off the canvas rather than alpha 0: the compositor skips
			// it without preparing its frame.
			b.pad.SetArg("xpos", fmt.Sprint(m.cfg.Video.Width+16))
			b.pad.SetArg("ypos", fmt.Sprint(m.cfg.Video.Height+16))
			b.pad.SetArg("width", "16")
			b.pad.SetArg("height", "16")
			continue
		}
		b.pad.SetArg("xpos", fmt.Sprint(w.X))
		b.pad.SetArg("ypos", fmt.Sprint(w.Y))
		b.pad.SetArg("width", fmt.Sprint(w.W))
		b.pad.SetArg("height", fmt.Sprint(w.H))
		b.pad.SetArg("alpha", fmt.Sprint(w.Alpha))
		b.pad.SetArg("zorder", fmt.Sprint(w.Z+1))
		if w.Fit {
			b.pad.SetArg("sizing-policy", "keep-aspect-ratio")
		} else {
			// Crop mode fills the window. Changing aspectratiocrop while
			// the compositor runs crashes GStreamer 1.22.0 (a caps change
			// racing the aggregation), so the picture is scaled to fill
			// the window instead: no bars, but a changed aspect ratio.
			b.pad.SetArg("sizing-policy", "none")
		}
	}
}

// finish ends every input so that the outputs finalise.
func (m *Mixer) finish() {
	m.mu.Lock()
	if m.ending {
		m.mu.Unlock()
		return
	}
	if m.cfg.Live {
		// A live composite lasts until the end was asked for: wait (a
		// little longer than the delay) for the output to get there.
		target := monotonicNow() - m.cfg.OriginMonotonic
		deadline := time.Now().Add(time.Duration(m.cfg.DelayMs)*time.Millisecond + time.Second)
		for m.outPTS < target && m.failed == nil && time.Now().Before(deadline) {
			m.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			m.mu.Lock()
		}
	}
	m.ending = true
	m.endPTS = m.fedUpTo + 1
	if m.cfg.Video != nil {
		m.endPTS += int64(time.Second) / int64(m.cfg.Video.FPS)
	}
	var branches []*branch
	for _, s := range m.sources {
		for _, b := range []*branch{s.video, s.audio} {
			if b != nil && !b.ended {
				b.ended = true
				branches = append(branches, b)
			}
		}
	}
	m.cond.Broadcast()
	m.mu.Unlock()
	for _, b := range branches {
		b.src.EndStream()
	}
	if !m.cfg.Live {
		// The gates end the canvas and the silence at endPTS.
		return
	}
	// Live sources never end by themselves: the end goes in at the
	// encoders, which flush; the muxers then finalise and the sources
	// stop on the EOS their next push meets.
	for _, n := range []string{"venc", "aenc"} {
		if e, err := m.pipe.GetElementByName(n); err == nil && e != nil {
			e.GetStaticPad("sink").SendEvent(gst.NewEOSEvent())
		}
	}
}

// watchBus follows the pipeline's messages until EOS.
func (m *Mixer) watchBus() {
	bus := m.pipe.GetPipelineBus()
	for {
		msg := bus.TimedPop(gst.ClockTimeNone)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageEOS:
			m.eosOnce.Do(func() { close(m.eos) })
			return
		case gst.MessageError:
			gerr := msg.ParseError()
			src := msg.Source()
			if strings.HasPrefix(src, "s") && strings.Contains(src, "-") {
				// One participant's branch failed (hostile media): the
				// composite goes on without it.
				m.log.Warn("a source's branch failed", "element", src, "error", gerr.Error())
				m.dropBranch(src)
				continue
			}
			m.mu.Lock()
			if m.failed == nil {
				m.failed = fmt.Errorf("%w: %s: %s", ErrPipeline, src, gerr.Error())
			}
			m.cond.Broadcast()
			m.mu.Unlock()
			m.eosOnce.Do(func() { close(m.eos) })
			return
		case gst.MessageWarning:
			m.log.Debug("pipeline warning", "element", msg.Source(), "warning", msg.ParseWarning().Error())
		case gst.MessageElement:
			m.elementMessage(msg)
		}
	}
}

// dropBranch ends the aggregator pad of a failed branch, so an offline
// composite does not wait for it forever.
func (m *Mixer) dropBranch(elem string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sources {
		for _, b := range []*branch{s.video, s.audio} {
			if b == nil {
				continue
			}
			for _, e := range b.elems {
				if e.GetName() == elem && !b.ended {
					b.ended = true
					b.pad.SendEvent(gst.NewEOSEvent())
				}
			}
		}
	}
}

func (m *Mixer) elementMessage(msg *gst.Message) {
	st := msg.GetStructure()
	if st == nil {
		return
	}
	name := st.Name()
	if name != "splitmuxsink-fragment-opened" && name != "splitmuxsink-fragment-closed" {
		return
	}
	locV, err := st.GetValue("location")
	if err != nil {
		return
	}
	loc, _ := locV.(string)
	rtV, _ := st.GetValue("running-time")
	rt, _ := rtV.(uint64)
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == "splitmuxsink-fragment-opened" {
		m.segStart[loc] = int64(rt)
		if msg.Source() == "mp4" {
			m.linkMP4(loc)
		}
		return
	}
	start, ok := m.segStart[loc]
	delete(m.segStart, loc)
	if !ok {
		start = int64(rt)
	}
	kind := mixproto.KindTS
	if msg.Source() == "mp4" {
		kind = mixproto.KindMP4
	}
	startPTS := max(start-m.offset, 0)
	final, linked := m.linked[loc]
	if linked {
		// The final name has been the file since it opened: the
		// temporary name just goes.
		delete(m.linked, loc)
		if err := os.Remove(loc); err != nil {
			m.log.Error("temporary output name not removed", "file", loc, "error", err)
		}
	} else {
		final = m.finalName(kind, loc, startPTS)
		if err := os.Rename(loc, final); err != nil {
			m.log.Error("output file not renamed", "file", loc, "error", err)
			return
		}
	}
	var size int64
	if fi, err := os.Stat(final); err == nil {
		size = fi.Size()
	}
	m.out.write(mixproto.TypeFileClosed, mixproto.FileClosed{Kind: kind, Name: filepath.Base(final),
		StartPTS: startPTS, DurationNs: int64(rt) - start, Bytes: size})
	m.out.flush()
}

// progress reports the output position about every 500 ms.
func (m *Mixer) progress(done chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		m.mu.Lock()
		p := mixproto.Progress{PTS: m.outPTS, Frames: m.frames}
		m.mu.Unlock()
		m.out.write(mixproto.TypeProgress, p)
		m.out.flush()
	}
}
