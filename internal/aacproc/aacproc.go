package aacproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ars-project/ars/internal/mixproto"
)

// flushTimeout bounds the final flush of every stream (End, SIGTERM).
const flushTimeout = 20 * time.Second

// heartbeat is how often the process says it is alive (TypeProgress):
// the supervisor kills a transcoder that stays silent.
const heartbeat = 500 * time.Millisecond

// outFlush is how long an access unit may wait in the output buffer:
// flushing after each unit would cost a write(2) a unit.
const outFlush = 50 * time.Millisecond

// Server is one transcoder process: its streams and its output.
type Server struct {
	log *slog.Logger
	out *output

	mu      sync.Mutex
	streams map[uint32]*stream
	units   int64
	gone    chan *stream // streams at their end, for the watcher to tear down
}

// Run serves the transcoder role: it reads frames from in until End, EOF
// or ctx's end (the first SIGTERM), then flushes every stream, reports
// Done and returns. Frames go to out.
func Run(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	gst.Init(nil)
	s := &Server{log: log, out: newOutput(out), streams: map[uint32]*stream{}, gone: make(chan *stream, mixproto.MaxAACStreams)}
	s.out.json(mixproto.TypeReady, nil, true)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); s.watch(stop) }()
	frames := make(chan error, 1)
	go func() { frames <- s.readFrames(mixproto.NewReader(in)) }()
	var readErr error
	select {
	case readErr = <-frames:
	case <-ctx.Done():
		log.Info("asked to stop: flushing every stream")
	}
	err := s.flushAll()
	close(stop)
	<-watched
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		log.Warn("input ended badly; streams flushed", "error", readErr)
	}
	if err != nil {
		return s.out.fail(err)
	}
	s.out.json(mixproto.TypeDone, nil, true)
	return s.out.err()
}

// readFrames handles the daemon's frames until End or EOF.
func (s *Server) readFrames(r *mixproto.Reader) error {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		switch f.Type {
		case mixproto.TypeEnd:
			return nil
		case mixproto.TypeAACOpen:
			var o mixproto.AACOpen
			if err := mixproto.Decode(f.Body, &o); err != nil {
				return err
			}
			if err := s.open(o); err != nil {
				s.log.Warn("stream refused", "stream", o.ID, "error", err)
				s.out.json(mixproto.TypeAACError, mixproto.AACError{ID: o.ID, Message: err.Error()}, true)
			}
		case mixproto.TypeAACOpus:
			m, err := mixproto.ParseOpus(f.Body)
			if err != nil {
				// A bad packet is the stream's loss, not the process's.
				s.log.Debug("packet refused", "error", err)
				continue
			}
			s.mu.Lock()
			st := s.streams[m.Source]
			s.mu.Unlock()
			if st != nil {
				st.packet(m.PTS, m.Data)
			}
		case mixproto.TypeAACSilence:
			m, err := mixproto.ParseSilence(f.Body)
			if err != nil {
				continue
			}
			s.mu.Lock()
			st := s.streams[m.Source]
			s.mu.Unlock()
			if st != nil {
				st.silence(m.PTS)
			}
		case mixproto.TypeAACClose:
			var c mixproto.AACClose
			if err := mixproto.Decode(f.Body, &c); err != nil {
				return err
			}
			s.mu.Lock()
			st := s.streams[c.ID]
			s.mu.Unlock()
			if st != nil {
				st.end()
			} else {
				// Nothing to flush: the answer the daemon waits for.
				s.out.json(mixproto.TypeAACClosed, mixproto.AACClosed{ID: c.ID}, true)
			}
		default:
			s.log.Warn("unexpected frame", "type", f.Type)
		}
	}
}

func (s *Server) open(o mixproto.AACOpen) error {
	if err := o.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[o.ID]; ok {
		return fmt.Errorf("%w: stream %d is open", ErrStream, o.ID)
	}
	if len(s.streams) >= mixproto.MaxAACStreams {
		return fmt.Errorf("%w: %d streams open", ErrStream, len(s.streams))
	}
	st, err := newStream(s, o)
	if err != nil {
		return err
	}
	s.streams[o.ID] = st
	return nil
}

// finished is called once per stream at its end (flushed, failed): the
// watcher tears its pipeline down, outside GStreamer's streaming thread.
func (s *Server) finished(st *stream) {
	s.gone <- st
}

// watch reads every stream's bus for errors, tears finished streams down
// and beats the heartbeat and the output flush, until stop.
func (s *Server) watch(stop <-chan struct{}) {
	tick := time.NewTicker(outFlush)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			s.drainGone()
			return
		case st := <-s.gone:
			s.teardown(st)
		case <-tick.C:
			s.mu.Lock()
			live := make([]*stream, 0, len(s.streams))
			for _, st := range s.streams {
				live = append(live, st)
			}
			units := s.units
			s.mu.Unlock()
			for _, st := range live {
				st.pollBus()
			}
			if time.Since(last) >= heartbeat {
				last = time.Now()
				s.out.json(mixproto.TypeProgress, mixproto.Progress{Frames: units}, false)
			}
			s.out.flush()
		}
	}
}

func (s *Server) drainGone() {
	for {
		select {
		case st := <-s.gone:
			s.teardown(st)
		default:
			return
		}
	}
}

func (s *Server) teardown(st *stream) {
	s.forget(st)
	st.pipe.SetState(gst.StateNull)
}

// forget takes a stream out of the map (its id may be opened again).
func (s *Server) forget(st *stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// flushAll ends every stream and waits until each has flushed.
func (s *Server) flushAll() error {
	s.mu.Lock()
	all := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		all = append(all, st)
	}
	s.mu.Unlock()
	for _, st := range all {
		st.end()
	}
	deadline := time.After(flushTimeout)
	for _, st := range all {
		select {
		case <-st.done:
		case <-deadline:
			return ErrFlush
		}
	}
	return nil
}

func (s *Server) countUnit() {
	s.mu.Lock()
	s.units++
	s.mu.Unlock()
}
