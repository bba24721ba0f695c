package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// Job is one file to upload.
type Job struct {
	// Session groups jobs: one session's jobs are uploaded in order.
	Session string      `json:"session"`
	Dest    Destination `json:"dest"`
	Key     string      `json:"key"`
	File    string      `json:"file"`
}

func (j Job) id() string { return j.Dest.String() + "\x00" + j.Key }

// Outcome is what became of a job.
type Outcome int

// Outcomes.
const (
	// Uploaded: the file is in its destination.
	Uploaded Outcome = iota + 1
	// Backuped: every attempt failed; a copy waits in the backup directory.
	Backuped
	// Restored: a backed-up file finally reached its destination.
	Restored
	// Lost: every attempt failed and no backup could be made (a full
	// disk): the file will never reach its destination.
	Lost
)

func (o Outcome) String() string {
	switch o {
	case Uploaded:
		return "uploaded"
	case Backuped:
		return "backuped"
	case Restored:
		return "restored"
	case Lost:
		return "lost"
	}
	return "unknown"
}

// Result reports one job's outcome.
type Result struct {
	Job     Job
	Outcome Outcome
	Err     error // the last failure, for Backuped and Lost
}

// Uploader uploads jobs with retries and keeps what fails.
type Uploader struct {
	dir        string
	log        *slog.Logger
	attempts   int
	backoff    time.Duration
	timeout    time.Duration
	retryEvery time.Duration
	workers    int
	onResult   func(Result)
	transport  http.RoundTripper

	mu     sync.Mutex
	queued map[string]bool
	closed bool
	shards []chan Job
	wg     sync.WaitGroup
	stop   chan struct{}
	abort  atomic.Bool
	// down remembers destinations that just failed: while one is down,
	// jobs for it get a single attempt, so an outage does not build a
	// queue of retries behind it.
	downMu sync.Mutex
	down   map[string]time.Time
	// backupMu serialises the backup directory between workers and the
	// retry loop.
	backupMu sync.Mutex
}

// Option configures an Uploader.
type Option func(*Uploader)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(u *Uploader) { u.log = l } }

// WithAttempts sets how often a job is tried before it is backed up.
func WithAttempts(n int) Option { return func(u *Uploader) { u.attempts = max(1, n) } }

// WithBackoff sets the pause after the first failed attempt; it doubles.
func WithBackoff(d time.Duration) Option { return func(u *Uploader) { u.backoff = d } }

// WithAttemptTimeout bounds one upload attempt.
func WithAttemptTimeout(d time.Duration) Option { return func(u *Uploader) { u.timeout = d } }

// WithRetryInterval sets how often backed-up files are retried.
func WithRetryInterval(d time.Duration) Option { return func(u *Uploader) { u.retryEvery = d } }

// WithWorkers sets how many uploads run at once.
func WithWorkers(n int) Option { return func(u *Uploader) { u.workers = max(1, n) } }

// WithResults sets the function told of every outcome. It runs on an
// upload goroutine and must not block for long.
func WithResults(f func(Result)) Option { return func(u *Uploader) { u.onResult = f } }

// WithTransport sends every upload through tr (internal/netguard's guarded
// transport in the daemon, so that an endpoint that resolves to a refused
// address fails like any unreachable one and its files are backed up).
func WithTransport(tr http.RoundTripper) Option { return func(u *Uploader) { u.transport = tr } }

// NewUploader keeps its backups in dir.
func NewUploader(dir string, opts ...Option) *Uploader {
	u := &Uploader{dir: dir, log: slog.Default(), attempts: 3, backoff: 500 * time.Millisecond,
		timeout: 60 * time.Second, retryEvery: 30 * time.Second, workers: 2,
		queued: map[string]bool{}, down: map[string]time.Time{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(u)
	}
	u.log = u.log.With("component", "uploader")
	return u
}

// Start creates the backup directory and starts the workers and the
// backup retry loop; backups left by an earlier run are retried too.
func (u *Uploader) Start() error {
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return fmt.Errorf("objstore: backup dir: %w", err)
	}
	u.shards = make([]chan Job, u.workers)
	for i := range u.shards {
		u.shards[i] = make(chan Job, 4096)
		u.wg.Add(1)
		go u.work(u.shards[i])
	}
	u.wg.Add(1)
	go u.retryLoop()
	return nil
}

// Submit queues a job. If the same key of the same destination is still
// waiting, nothing is added (the file is read when it is uploaded, so the
// newest content goes) and queued is false.
func (u *Uploader) Submit(j Job) (queued bool, err error) {
	if err := CleanKey(j.Key); err != nil {
		return false, err
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return false, ErrClosed
	}
	if u.queued[j.id()] {
		u.mu.Unlock()
		return false, nil
	}
	u.queued[j.id()] = true
	h := fnv.New32a()
	_, _ = h.Write([]byte(j.Session))
	ch := u.shards[int(h.Sum32()%uint32(len(u.shards)))]
	u.mu.Unlock()
	ch <- j
	return true, nil
}

// Close uploads what is queued; once ctx ends, the rest goes straight to
// the backup directory so that a restart loses nothing.
func (u *Uploader) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	for _, ch := range u.shards {
		close(ch)
	}
	u.mu.Unlock()
	close(u.stop)
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		u.abort.Store(true)
		<-done
		return ctx.Err()
	}
}

func (u *Uploader) work(ch chan Job) {
	defer u.wg.Done()
	for j := range ch {
		u.mu.Lock()
		delete(u.queued, j.id())
		u.mu.Unlock()
		u.process(j)
	}
}

func (u *Uploader) process(j Job) {
	var err error
	attempts := u.attempts
	u.downMu.Lock()
	if time.Now().Before(u.down[j.Dest.String()]) {
		attempts = 1
	}
	u.downMu.Unlock()
	for attempt := 0; attempt < attempts && !u.abort.Load(); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(u.backoff << (attempt - 1)):
			case <-u.stop:
			}
		}
		if err = u.put(j); err == nil {
			u.downMu.Lock()
			delete(u.down, j.Dest.String())
			u.downMu.Unlock()
			u.dropBackup(j)
			u.report(Result{Job: j, Outcome: Uploaded})
			return
		}
		u.log.Warn("upload failed", "key", j.Key, "dest", j.Dest.String(), "attempt", attempt+1, "error", err)
	}
	if err == nil {
		err = ErrClosed
	}
	u.downMu.Lock()
	u.down[j.Dest.String()] = time.Now().Add(u.retryEvery)
	u.downMu.Unlock()
	if berr := u.backup(j); berr != nil {
		u.log.Error("upload lost: cannot back up", "key", j.Key, "error", berr)
		u.report(Result{Job: j, Outcome: Lost, Err: errors.Join(err, berr)})
		return
	}
	u.report(Result{Job: j, Outcome: Backuped, Err: err})
}

func (u *Uploader) put(j Job) error {
	st, err := j.Dest.OpenWith(u.transport)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	return st.Put(ctx, j.Key, j.File)
}

func (u *Uploader) report(r Result) {
	if u.onResult != nil {
		u.onResult(r)
	}
}

// backupName is where a key's backup lives: one per destination and key,
// so a newer version of a file (a playlist) replaces the older one.
func (u *Uploader) backupName(j Job) string {
	sum := sha256.Sum256([]byte(j.id()))
	return filepath.Join(u.dir, hex.EncodeToString(sum[:12]))
}

// backup copies the file aside and records the job next to it. The job
// file holds the destination's credentials, hence 0600.
func (u *Uploader) backup(j Job) error {
	u.backupMu.Lock()
	defer u.backupMu.Unlock()
	base := u.backupName(j)
	if err := copyFile(j.File, base+".data"); err != nil {
		return err
	}
	j.File = base + ".data"
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	tmp := base + ".json.part"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		// Without its record the copy is never retried: it would only
		// hold space (on a full disk, the space the next backup needs).
		_ = os.Remove(tmp)
		if _, serr := os.Stat(base + ".json"); serr != nil {
			_ = os.Remove(base + ".data")
		}
		return fmt.Errorf("objstore: %w", err)
	}
	return os.Rename(tmp, base+".json")
}

func (u *Uploader) dropBackup(j Job) {
	u.backupMu.Lock()
	defer u.backupMu.Unlock()
	base := u.backupName(j)
	if _, err := os.Stat(base + ".json"); err == nil {
		_ = os.Remove(base + ".json")
		_ = os.Remove(base + ".data")
	}
}

// Backups lists the jobs waiting in the backup directory.
func (u *Uploader) Backups() []Job {
	u.backupMu.Lock()
	defer u.backupMu.Unlock()
	return u.loadBackupsLocked()
}

// HasBackups reports whether files of a recording session still wait in
// the backup directory.
func (u *Uploader) HasBackups(session string) bool {
	for _, j := range u.Backups() {
		if j.Session == session {
			return true
		}
	}
	return false
}

func (u *Uploader) loadBackupsLocked() []Job {
	names, _ := filepath.Glob(filepath.Join(u.dir, "*.json"))
	sort.Strings(names)
	var jobs []Job
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		var j Job
		if err := json.Unmarshal(b, &j); err != nil || !strings.HasPrefix(j.File, u.dir) {
			u.log.Warn("unreadable backup record", "file", n, "error", err)
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func (u *Uploader) retryLoop() {
	defer u.wg.Done()
	tick := time.NewTicker(u.retryEvery)
	defer tick.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-tick.C:
			u.retryBackups()
		}
	}
}

// retryBackups tries every backed-up file once.
func (u *Uploader) retryBackups() {
	for _, j := range u.Backups() {
		select {
		case <-u.stop:
			return
		default:
		}
		if err := u.put(j); err != nil {
			u.log.Debug("backup still not uploadable", "key", j.Key, "error", err)
			continue
		}
		u.dropBackup(j)
		u.log.Info("backed-up file uploaded", "key", j.Key, "dest", j.Dest.String())
		u.report(Result{Job: j, Outcome: Restored})
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, storage.FileMode)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: %w", err)
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: %w", err)
	}
	return os.Rename(tmp, dst)
}
