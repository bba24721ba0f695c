package batch

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, ch <-chan FileResult, n int) map[string]FileResult {
	t.Helper()
	got := map[string]FileResult{}
	for range n {
		select {
		case fr := <-ch:
			got[fr.Path] = fr
		case <-time.After(2 * time.Minute):
			t.Fatalf("only %d of %d results", len(got), n)
		}
	}
	return got
}

func TestPoolConvertsSubmitted(t *testing.T) {
	root := t.TempDir()
	a := writeCapture(t, recDir(root, "a"), "1_100000.tmp")
	b := writeCapture(t, recDir(root, "b"), "2_100000.tmp")
	goroutineGuard(t)
	logger, logs := testLogger()
	results := make(chan FileResult, 8)
	p := NewPool(DefaultConverter(), logger, WithOnDone(func(fr FileResult) { results <- fr }))
	p.Start()
	for _, c := range []string{a, b, a} { // a twice: the second finds the MP4
		if !p.Submit(c) {
			t.Fatalf("submit %s refused", c)
		}
	}
	got := collect(t, results, 3)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got[b].Status != StatusConverted {
		t.Errorf("b: %+v", got[b])
	}
	checkMP4(t, mp4Of(a))
	checkMP4(t, mp4Of(b))
	checkLog(t, logs.String(), 2, 0)
	if p.Submit(a) {
		t.Error("closed pool accepted a capture")
	}
}

func TestPoolRefusesWhenFull(t *testing.T) {
	root := t.TempDir()
	var c []string
	for i, ch := range []string{"a", "b", "c"} {
		c = append(c, writeCapture(t, recDir(root, ch), string(rune('1'+i))+"_100000.tmp"))
	}
	goroutineGuard(t)
	g := newGate(DefaultConverter())
	logger, logs := testLogger()
	p := NewPool(g.convert, logger, WithWorkers(1), WithQueue(1))
	p.Start()
	if !p.Submit(c[0]) {
		t.Fatal("first refused")
	}
	if src := waitStarted(t, g); src != c[0] {
		t.Fatalf("started %s", src)
	}
	if !p.Submit(c[1]) {
		t.Fatal("second refused with a free queue slot")
	}
	if p.Submit(c[2]) {
		t.Fatal("third accepted beyond the queue")
	}
	if !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), "file="+c[2]) {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
	close(g.release)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkMP4(t, mp4Of(c[0]))
	checkMP4(t, mp4Of(c[1]))
	mustNotExist(t, mp4Of(c[2]))
	checkLog(t, logs.String(), 2, 0)
}

// Close with time to spare finishes everything queued before returning.
func TestPoolCloseFinishesQueue(t *testing.T) {
	root := t.TempDir()
	var c []string
	for i, ch := range []string{"a", "b", "c"} {
		c = append(c, writeCapture(t, recDir(root, ch), string(rune('1'+i))+"_100000.tmp"))
	}
	goroutineGuard(t)
	logger, _ := testLogger()
	p := NewPool(DefaultConverter(), logger, WithWorkers(1), WithQueue(len(c)))
	for _, src := range c { // queued before Start: they wait
		if !p.Submit(src) {
			t.Fatal("refused")
		}
	}
	p.Start()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, src := range c {
		checkMP4(t, mp4Of(src))
	}
}

// Close whose context ends aborts the conversion in flight and the queue;
// nothing is left half written.
func TestPoolCloseDeadline(t *testing.T) {
	root := t.TempDir()
	a := writeCapture(t, recDir(root, "a"), "1_100000.tmp")
	b := writeCapture(t, recDir(root, "b"), "2_100000.tmp")
	goroutineGuard(t)
	g := newGate(DefaultConverter())
	logger, logs := testLogger()
	results := make(chan FileResult, 4)
	p := NewPool(g.convert, logger, WithWorkers(1), WithOnDone(func(fr FileResult) { results <- fr }))
	p.Start()
	p.Submit(a)
	p.Submit(b)
	waitStarted(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("close: %v", err)
	}
	got := collect(t, results, 2)
	for _, src := range []string{a, b} {
		if got[src].Status != StatusInterrupted {
			t.Errorf("%s: %+v", filepath.Base(src), got[src])
		}
		mustNotExist(t, mp4Of(src))
		mustNotExist(t, tmpOf(src))
	}
	checkLog(t, logs.String(), 0, 0)
}

// A pool closed without ever starting accounts for what it was given.
func TestPoolCloseUnstarted(t *testing.T) {
	goroutineGuard(t)
	logger, _ := testLogger()
	results := make(chan FileResult, 4)
	p := NewPool(DefaultConverter(), logger, WithOnDone(func(fr FileResult) { results <- fr }))
	src := filepath.Join(t.TempDir(), "1_100000.tmp")
	if !p.Submit(src) {
		t.Fatal("refused")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fr := <-results; fr.Path != src || fr.Status != StatusInterrupted {
		t.Fatalf("%+v", fr)
	}
	p.Start() // after Close: no workers
	if p.Submit(src) {
		t.Fatal("accepted after Close")
	}
}
