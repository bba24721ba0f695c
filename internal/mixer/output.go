package mixer

import (
	"io"
	"sync"

	"github.com/ars-project/ars/internal/mixproto"
)

// output serialises the frames the mixer writes to the daemon.
type output struct {
	mu  sync.Mutex
	w   *mixproto.Writer
	err error
}

func newOutput(w io.Writer) *output { return &output{w: mixproto.NewWriter(w)} }

func (o *output) write(t mixproto.Type, v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.w.WriteJSON(t, v)
	}
}

func (o *output) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.w.Flush()
	}
	return o.err
}

// fail writes an Error frame and returns err.
func (o *output) fail(err error) error {
	o.write(mixproto.TypeError, mixproto.Error{Message: err.Error()})
	_ = o.flush()
	return err
}
