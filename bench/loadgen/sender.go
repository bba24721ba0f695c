package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// SendOptions configure Send. Zero values get defaults.
type SendOptions struct {
	Host     string        // destination IPv4 address; default 127.0.0.1
	Duration time.Duration // how long to send; default 10s
	// Workers is how many goroutines send, each with a connected socket
	// per destination port; default 2.
	Workers int
	Batch   int // datagrams queued per destination port before a send; default 256
	// Quantum is the least time between the starts of a worker's rounds:
	// a longer one makes larger batches at the price of up to that much
	// lateness.
	Quantum time.Duration // default 1ms
	// NoGSO sends every datagram as its own message instead of a video
	// frame's fragments as one UDP GSO message.
	NoGSO bool
	Seed  uint64 // picks each stream's phase and start delay
	// Sent, if set, counts the packets sent so far, updated every round:
	// a measurement can take a window of the sending time.
	Sent *atomic.Uint64
}

func (o SendOptions) withDefaults() SendOptions {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Quantum <= 0 {
		o.Quantum = time.Millisecond
	}
	return o
}

// Report is what Send sent.
type Report struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"durationNs"`
	// Elapsed is the wall time Send took (at least Duration).
	Elapsed    time.Duration `json:"elapsedNs"`
	Workers    int           `json:"workers"`
	Packets    uint64        `json:"packets"`
	Bytes      uint64        `json:"bytes"`
	SendErrors uint64        `json:"sendErrors"`
	Syscalls   uint64        `json:"syscalls"`
	// Messages counts what the kernel took as one send (sendmmsg
	// entries); GSOMessages those of them that carried several datagrams.
	Messages    uint64         `json:"messages"`
	GSOMessages uint64         `json:"gsoMessages"`
	MaxLate     time.Duration  `json:"maxLateNs"`
	MeanLate    time.Duration  `json:"meanLateNs"`
	Late10ms    uint64         `json:"late10ms"` // packets sent more than 10 ms after due
	Streams     []StreamReport `json:"streams"`
}

// Send plays tracks to every target for o.Duration: a video and an audio
// stream each, paced as the encoder produced them, in sendmmsg batches.
func Send(ctx context.Context, tracks Tracks, targets []Target, o SendOptions) (*Report, error) {
	o = o.withDefaults()
	if len(targets) == 0 {
		return nil, ErrNoParticipants
	}
	ip := net.ParseIP(o.Host).To4()
	if ip == nil {
		return nil, fmt.Errorf("loadgen: %q is not an IPv4 address", o.Host)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	workers := make([]*worker, o.Workers)
	for i := range workers {
		workers[i] = newWorker(o.Batch, !o.NoGSO)
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for i, tg := range targets {
		// A participant's streams share a worker, hence a socket and a
		// source address, as they would share a sender's socket.
		w := workers[i%len(workers)]
		out, err := w.to(&net.UDPAddr{IP: ip, Port: tg.Port})
		if err != nil {
			return nil, err
		}
		for _, spec := range []struct {
			t    *Track
			ssrc uint32
		}{{tracks.Video, tg.VideoSSRC}, {tracks.Audio, tg.AudioSSRC}} {
			s := &stream{
				t: spec.t, ssrc: spec.ssrc, out: out,
				seq0:  uint16(rng.Uint32()),
				ts0:   rng.Uint32(),
				phase: rng.IntN(len(spec.t.Packets)),
				delay: time.Duration(rng.Int64N(int64(20 * time.Millisecond))),
				rep:   StreamReport{Channel: tg.Channel, UID: tg.UID, Kind: spec.t.Info.Kind, SSRC: spec.ssrc, Port: tg.Port},
			}
			s.due = s.dueAt(0)
			w.streams = append(w.streams, s)
		}
	}
	rep := &Report{Started: time.Now(), Duration: o.Duration, Workers: o.Workers}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.run(ctx, start, o.Duration, o.Quantum, o.Sent)
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	var lateSum time.Duration
	for _, w := range workers {
		p, b, e, sc, m, g := w.counts()
		rep.Messages += m
		rep.Packets += p
		rep.Bytes += b
		rep.SendErrors += e
		rep.Syscalls += sc
		rep.GSOMessages += g
		rep.Late10ms += w.late10ms
		lateSum += w.lateSum
		rep.MaxLate = max(rep.MaxLate, w.maxLate)
		for _, s := range w.streams {
			rep.Streams = append(rep.Streams, s.rep)
		}
	}
	if rep.Packets > 0 {
		rep.MeanLate = lateSum / time.Duration(rep.Packets)
	}
	for _, err := range errs {
		if err != nil {
			return rep, err
		}
	}
	return rep, ctx.Err()
}

// worker plays its streams on one goroutine, with a connected socket
// per destination port.
type worker struct {
	streams []*stream
	batches []*batch
	byPort  map[int]*batch
	gso     bool
	size    int // datagrams per batch

	late10ms         uint64
	lateSum, maxLate time.Duration
}

func newWorker(size int, gso bool) *worker {
	return &worker{byPort: map[int]*batch{}, gso: gso, size: size}
}

// to returns the batch for dst, connecting a socket on first use.
func (w *worker) to(dst *net.UDPAddr) (*batch, error) {
	if b := w.byPort[dst.Port]; b != nil {
		return b, nil
	}
	b, err := newBatch(dst, w.size, w.gso)
	if err != nil {
		return nil, err
	}
	w.byPort[dst.Port] = b
	w.batches = append(w.batches, b)
	return b, nil
}

func (w *worker) close() {
	for _, b := range w.batches {
		b.close()
	}
}

// counts sums the batches' counters.
func (w *worker) counts() (packets, bytes, errs, syscalls, msgs, gso uint64) {
	for _, b := range w.batches {
		msgs += b.msgsSent
		packets += b.packets
		bytes += b.bytesSent
		errs += b.errs
		syscalls += b.syscalls
		gso += b.gsoMsgs
	}
	return
}

// run sends until every stream is past dur. Each round takes every packet
// due by one reading of the clock (a video frame's fragments together),
// and the next round starts a quantum later at the earliest: fewer,
// fuller rounds cost less than waking for every packet, at the price of
// up to a quantum of lateness.
func (w *worker) run(ctx context.Context, start time.Time, dur, quantum time.Duration, sent *atomic.Uint64) error {
	var published uint64
	wh := &wheel{}
	for _, s := range w.streams {
		if s.due < dur {
			wh.file(s, 0)
		}
	}
	var now time.Duration
	base := int64(0)
	// play sends what s has due by now and files it again; built once,
	// as a closure made per round would allocate.
	play := func(s *stream) error {
		for s.due <= now && s.due < dur {
			if s.out.full() {
				if err := s.out.flush(); err != nil {
					return err
				}
			}
			s.out.add(s, s.n)
			w.late(now - s.due)
			s.n++
			s.due = s.dueAt(s.n)
		}
		if s.due < dur {
			wh.file(s, base)
		}
		return nil
	}
	for wh.n > 0 && ctx.Err() == nil {
		now = time.Since(start)
		base = tickOf(now)
		if err := wh.take(now, play); err != nil {
			return err
		}
		var total uint64
		for _, b := range w.batches {
			if err := b.flush(); err != nil {
				return err
			}
			total += b.packets
		}
		if sent != nil && total != published {
			sent.Add(total - published)
			published = total
		}
		if wh.n == 0 {
			break
		}
		// Rounds start at least a quantum apart; one that ran long is
		// followed at once, not after another full quantum.
		if d := max(wh.nextDue(), now+quantum) - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	return nil
}

func (w *worker) late(d time.Duration) {
	w.lateSum += d
	w.maxLate = max(w.maxLate, d)
	if d > 10*time.Millisecond {
		w.late10ms++
	}
}
