package aacproc

import (
	"io"
	"sync"

	"github.com/ars-project/ars/internal/mixproto"
)

// output serialises the frames the transcoder writes. Units are buffered
// and flushed by the watcher every outFlush; control frames can flush at
// once.
type output struct {
	mu    sync.Mutex
	w     *mixproto.Writer
	dirty bool
	e     error
}

func newOutput(w io.Writer) *output { return &output{w: mixproto.NewWriter(w)} }

func (o *output) json(t mixproto.Type, v any, now bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.e == nil {
		o.e = o.w.WriteJSON(t, v)
		o.dirty = true
	}
	if now {
		o.flushLocked()
	}
}

func (o *output) unit(u mixproto.AACUnit) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.e == nil {
		o.e = o.w.WriteAACUnit(u)
		o.dirty = true
	}
}

func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
}

func (o *output) flushLocked() {
	if o.e == nil && o.dirty {
		o.e = o.w.Flush()
		o.dirty = false
	}
}

func (o *output) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
	return o.e
}

// fail writes an Error frame and returns err.
func (o *output) fail(err error) error {
	o.json(mixproto.TypeError, mixproto.Error{Message: err.Error()}, true)
	return err
}
