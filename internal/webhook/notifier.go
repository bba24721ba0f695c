package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Notifier queues and sends notifications.
type Notifier struct {
	url     string
	secret  string
	dir     string
	log     *slog.Logger
	client  *http.Client
	retries int
	pause   time.Duration
	now     func() time.Time

	mu     sync.Mutex
	seq    uint64
	closed bool
	// mem holds notifications the queue directory could not take (a
	// full disk): sent all the same, in order, but lost by a restart.
	mem  []queued
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// memQueueMax bounds the notifications held in memory while the queue
// directory cannot be written.
const memQueueMax = 1024

// queued is one notification waiting: a file in the queue directory, or
// its body in memory.
type queued struct {
	name string // sorts in queueing order
	path string // "" for one held in memory
	body []byte
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(n *Notifier) { n.log = l } }

// WithTimeout sets how long a receiver has to answer 200.
func WithTimeout(d time.Duration) Option { return func(n *Notifier) { n.client.Timeout = d } }

// WithRetries sets how often a notification is resent after a failure.
func WithRetries(r int) Option { return func(n *Notifier) { n.retries = max(0, r) } }

// WithRetryPause sets the pause between attempts.
func WithRetryPause(d time.Duration) Option { return func(n *Notifier) { n.pause = d } }

// New builds a notifier that posts to url, signs with secret and queues
// in dir.
func New(url, secret, dir string, opts ...Option) *Notifier {
	n := &Notifier{url: url, secret: secret, dir: dir, log: slog.Default(),
		client: &http.Client{Timeout: 10 * time.Second}, retries: 3, pause: time.Second, now: time.Now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(n)
	}
	n.log = n.log.With("component", "webhook")
	return n
}

// Start creates the queue directory and sends what an earlier run left.
func (n *Notifier) Start() error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return fmt.Errorf("webhook: queue dir: %w", err)
	}
	go n.run()
	n.signal()
	return nil
}

// Notify queues one event. It returns once the event is on disk, or, when
// the queue directory cannot be written (a full disk), held in memory
// (at most memQueueMax events): sent all the same, lost by a restart.
func (n *Notifier) Notify(eventType, serviceType int, p Payload) error {
	now := n.now()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	p.SendTs = now.UnixMilli()
	p.ServiceType = serviceType
	body, err := json.Marshal(Notification{NoticeID: hex.EncodeToString(id), ProductID: ProductCloudRecording,
		EventType: eventType, NotifyMs: now.UnixMilli(), Payload: p})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.seq++
	// Names sort in the order events were queued, across restarts too.
	name := fmt.Sprintf("%020d-%06d.json", now.UnixNano(), n.seq%1000000)
	n.mu.Unlock()
	path := filepath.Join(n.dir, name)
	err = os.WriteFile(path+".part", body, 0o600)
	if err == nil {
		err = os.Rename(path+".part", path)
	}
	if err != nil {
		// The events that say the disk is full must not need the disk.
		_ = os.Remove(path + ".part")
		n.mu.Lock()
		full := len(n.mem) >= memQueueMax
		if !full {
			n.mem = append(n.mem, queued{name: name, body: body})
		}
		n.mu.Unlock()
		if full {
			return fmt.Errorf("webhook: queue: %w", err)
		}
		n.log.Warn("notification kept in memory: queue not writable", "event", eventType, "error", err)
	}
	n.signal()
	return nil
}

func (n *Notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Close stops sending; what is still queued stays on disk for the next
// start.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	if len(n.mem) > 0 {
		n.log.Error("notifications held in memory are lost at close", "count", len(n.mem))
	}
	n.mu.Unlock()
	close(n.stop)
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending lists the queued notifications, oldest first.
func (n *Notifier) Pending() []string {
	names, _ := filepath.Glob(filepath.Join(n.dir, "*.json"))
	sort.Strings(names)
	return names
}

// waiting lists the queued notifications, on disk and in memory, in
// queueing order.
func (n *Notifier) waiting() []queued {
	var out []queued
	for _, path := range n.Pending() {
		out = append(out, queued{name: filepath.Base(path), path: path})
	}
	n.mu.Lock()
	out = append(out, n.mem...)
	n.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// forget removes a notification from the queue.
func (n *Notifier) forget(q queued) {
	if q.path != "" {
		_ = os.Remove(q.path)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, m := range n.mem {
		if m.name == q.name {
			n.mem = append(n.mem[:i], n.mem[i+1:]...)
			return
		}
	}
}

func (n *Notifier) run() {
	defer close(n.done)
	for {
		for _, q := range n.waiting() {
			if !n.deliver(q) {
				return
			}
		}
		select {
		case <-n.stop:
			return
		case <-n.wake:
		}
	}
}

// deliver sends one queued notification with its retries; it returns
// false when the notifier is stopping.
func (n *Notifier) deliver(q queued) bool {
	body, path := q.body, q.name
	var err error
	if q.path != "" {
		if body, err = os.ReadFile(q.path); err != nil {
			n.log.Warn("unreadable queued notification", "file", q.path, "error", err)
			n.forget(q)
			return true
		}
	}
	for attempt := 0; attempt <= n.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-n.stop:
				return false
			case <-time.After(n.pause):
			}
		}
		err = n.post(body)
		if err == nil {
			n.forget(q)
			return true
		}
		n.log.Warn("notification not accepted", "file", path, "attempt", attempt+1, "error", err)
		select {
		case <-n.stop:
			return false
		default:
		}
	}
	n.log.Error("notification dropped after retries", "file", path, "body", strings.TrimSpace(string(body)))
	n.forget(q)
	return true
}

func (n *Notifier) post(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	s1, s2 := Sign(n.secret, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Agora-Signature", s1)
	req.Header.Set("Agora-Signature-V2", s2)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %d", ErrStatus, resp.StatusCode)
	}
	return nil
}
