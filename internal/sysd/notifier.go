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
}

// New makes a Notifier.
func New(log *slog.Logger) *Notifier {
	return &Notifier{log: log.With("component", "systemd")}
}

func (n *Notifier) send(state string) {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		n.log.Warn("sd_notify failed", "state", state, "err", err)
		return
	}
	if sent {
		n.log.Debug("sd_notify", "state", state)
	}
}

// Ready reports that the daemon serves.
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Stopping reports that a graceful stop began.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Watchdog pings systemd at half the configured WatchdogSec while healthy
// reports true; a daemon that stops making progress stops pinging and is
// restarted. It returns a function that stops the pings.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() bool) (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
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
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if healthy() {
					n.send(daemon.SdNotifyWatchdog)
				} else {
					n.log.Error("watchdog error: daemon is not making progress; withholding WATCHDOG=1")
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
