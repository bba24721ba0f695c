package daemon

import (
	"context"
	"errors"
	"fmt"
)

// stage is one step of the start order: start runs in order, close (if
// any) in the reverse order, and only for the stages that started.
type stage struct {
	name  string
	start func() error
	close func(context.Context) error
}

// lifecycle runs stages.
type lifecycle struct {
	stages  []stage
	started int
	// trace, when set, hears "start NAME" and "close NAME" (tests).
	trace func(event, name string)
}

func (l *lifecycle) note(event, name string) {
	if l.trace != nil {
		l.trace(event, name)
	}
}

// start runs every stage's start in order. On a failure the stages that
// started are closed, last first, and the error names the stage.
func (l *lifecycle) start(ctx context.Context) error {
	for i, st := range l.stages {
		l.note("start", st.name)
		if st.start != nil {
			if err := st.start(); err != nil {
				l.started = i
				return errors.Join(err, l.close(ctx))
			}
		}
		l.started = i + 1
	}
	return nil
}

// close closes the started stages, last started first, and joins their
// errors, each named.
func (l *lifecycle) close(ctx context.Context) error {
	var errs []error
	for i := l.started - 1; i >= 0; i-- {
		st := l.stages[i]
		if st.close == nil {
			continue
		}
		l.note("close", st.name)
		if err := st.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.name, err))
		}
	}
	l.started = 0
	return errors.Join(errs...)
}

// names lists the stages in start order.
func (l *lifecycle) names() []string {
	out := make([]string, len(l.stages))
	for i, st := range l.stages {
		out[i] = st.name
	}
	return out
}

func noErr(f func()) func(context.Context) error {
	return func(context.Context) error { f(); return nil }
}
