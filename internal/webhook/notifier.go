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
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
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

// Notify queues one event. It returns once the event is on disk.
func (n *Notifier) Notify(eventType, serviceType int, p Payload) error {
	now := n.now()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	p.SendTs = now.UnixMilli()
	p.ServiceType = serviceType
	if p.Details == nil {
		p.Details = map[string]any{}
	}
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
	if err := os.WriteFile(path+".part", body, 0o600); err != nil {
		return fmt.Errorf("webhook: queue: %w", err)
	}
	if err := os.Rename(path+".part", path); err != nil {
		return fmt.Errorf("webhook: queue: %w", err)
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

func (n *Notifier) run() {
	defer close(n.done)
	for {
		for _, path := range n.Pending() {
			if !n.deliver(path) {
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
func (n *Notifier) deliver(path string) bool {
	body, err := os.ReadFile(path)
	if err != nil {
		n.log.Warn("unreadable queued notification", "file", path, "error", err)
		_ = os.Remove(path)
		return true
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
			_ = os.Remove(path)
			return true
		}
		n.log.Warn("notification not accepted", "file", filepath.Base(path), "attempt", attempt+1, "error", err)
		select {
		case <-n.stop:
			return false
		default:
		}
	}
	n.log.Error("notification dropped after retries", "file", filepath.Base(path), "body", strings.TrimSpace(string(body)))
	_ = os.Remove(path)
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
