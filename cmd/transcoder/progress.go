package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/batch"
)

const barWidth = 30

// progressBar draws one status line at the bottom of a terminal. It is
// also the io.Writer the log goes through when both share the terminal,
// so that a log line never lands in the middle of the bar.
type progressBar struct {
	mu      sync.Mutex
	w       io.Writer
	active  bool
	total   int
	done    int
	failed  int
	started time.Time
	now     func() time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, now: time.Now}
}

// Planned starts a pass's bar.
func (b *progressBar) Planned(total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total, b.done, b.failed = total, 0, 0
	b.started = b.now()
	b.active = total > 0
	b.drawLocked()
}

// Done advances the bar by one capture.
func (b *progressBar) Done(fr batch.FileResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	if fr.Status == batch.StatusFailed {
		b.failed++
	}
	b.drawLocked()
}

// Finish removes the bar at the end of a pass.
func (b *progressBar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active {
		io.WriteString(b.w, "\r\x1b[K")
		b.active = false
	}
}

// Write prints log output above the bar.
func (b *progressBar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active {
		io.WriteString(b.w, "\r\x1b[K")
	}
	n, err := b.w.Write(p)
	b.drawLocked()
	return n, err
}

func (b *progressBar) drawLocked() {
	if !b.active {
		return
	}
	io.WriteString(b.w, "\r\x1b[K"+b.line())
}

// line renders e.g. "[###########-------------------] 3/8 files, 1 failed, 0:12".
func (b *progressBar) line() string {
	filled := 0
	if b.total > 0 {
		filled = min(barWidth, b.done*barWidth/b.total)
	}
	s := "[" + strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled) + "]" +
		fmt.Sprintf(" %d/%d files", b.done, b.total)
	if b.failed > 0 {
		s += fmt.Sprintf(", %d failed", b.failed)
	}
	el := b.now().Sub(b.started).Round(time.Second)
	return s + fmt.Sprintf(", %d:%02d", int(el.Minutes()), int(el.Seconds())%60)
}
