package sysd

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages.
type Notifier struct {
	log *slog.Logger

	// mu orders messages: once stopping is set no WATCHDOG=1 follows.
	mu       sync.Mutex
	stopping bool
	// failing silences repeated send errors (a vanished socket would
	// otherwise log on every watchdog tick).
	failing bool
}

// New makes a Notifier.
func New(log *slog.Logger) *Notifier {
	return &Notifier{log: log.With("component", "systemd")}
}

// send needs n.mu held.
func (n *Notifier) send(state string) {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		if !n.failing {
			n.log.Warn("sd_notify failed", "state", state, "err", err)
		}
		n.failing = true
		return
	}
	n.failing = false
	if sent {
		n.log.Debug("sd_notify", "state", state)
	}
}

// Ready reports that the daemon serves. Call it only once every listener is
// bound: systemd starts dependent units and `systemctl start` returns then.
func (n *Notifier) Ready() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.send(daemon.SdNotifyReady)
}

// Stopping reports that a graceful stop began. It also ends the watchdog
// pings for good: a stop that takes long is governed by TimeoutStopSec, not
// by the watchdog.
func (n *Notifier) Stopping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopping = true
	n.send(daemon.SdNotifyStopping)
}

// ping sends WATCHDOG=1 unless Stopping was called.
func (n *Notifier) ping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopping {
		n.send(daemon.SdNotifyWatchdog)
	}
}

// Watchdog pings systemd at half of WatchdogSec= while healthy reports
// true, starting at once; a daemon that stops making progress stops pinging
// and systemd restarts it. Without WATCHDOG_USEC (or with a WATCHDOG_PID
// that is not ours) it does nothing. healthy runs on the pinger's goroutine.
// It returns a function that stops the pings and waits for the pinger.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() bool) (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog disabled", "err", err)
	}
	if err != nil || interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			if healthy() {
				n.ping()
			} else {
				n.log.Error("watchdog error: daemon is not making progress; withholding WATCHDOG=1")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
