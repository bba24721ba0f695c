package e2e

import (
	"context"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// resumeCase runs two plain-RTP participants of one recording channel
// through a restart of the daemon (stop is how the first daemon ends) and
// checks what the issue promises: the channel records again in the same
// directory with no new join or start, each participant has a second
// capture there, and the packets missing across the restart (by the
// senders' own sequence numbers) fit in the downtime plus slack.
func resumeCase(t *testing.T, stop func(d *daemon) time.Time, wantStatus string, slack time.Duration) {
	d := startDaemon(t)
	const channel = "resume"
	uids := []uint32{31, 32}
	var parts []participant
	for i, uid := range uids {
		parts = append(parts, d.joinRTP(channel, uid, 0x3100+uint32(2*i), 0x3101+uint32(2*i)))
	}
	a := d.startRecording(channel, uids[0], "resume tag")
	const interval = 10 * time.Millisecond // 100 packets/s per SSRC
	var senders []*seqSender
	for _, p := range parts {
		s := newSeqSender(t, p, interval)
		s.start()
		senders = append(senders, s)
	}
	defer func() {
		for _, s := range senders {
			select {
			case <-s.done:
			default:
				s.halt()
			}
		}
	}()
	waitFor(t, "both captures", 10*time.Second, func() bool {
		st := d.status(channel)
		return len(st.Users) == 2 && st.Users[0].File != "" && st.Users[1].File != ""
	})
	time.Sleep(2 * time.Second)

	downAt := stop(d)
	d2 := restartDaemon(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	upAt := waitHealthy(ctx, d2)
	downtime := upAt.Sub(downAt)

	st := d2.status(channel)
	if !st.Recording || st.Directory != a.Directory {
		t.Fatalf("after the restart: recording=%v directory=%q, want true in %q", st.Recording, st.Directory, a.Directory)
	}
	waitFor(t, "both participants writing again", 10*time.Second, func() bool {
		st := d2.status(channel)
		if len(st.Users) != 2 {
			return false
		}
		for _, u := range st.Users {
			if u.File == "" {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	for _, s := range senders {
		s.halt()
	}
	time.Sleep(200 * time.Millisecond)
	d2.stopRecording(channel, uids[0])

	if md := readMetadata(t, a.Directory); md.ErrorStatus != wantStatus || md.Tag != "resume tag" {
		t.Errorf("Metadata.txt after the resumed recording: %+v, want error status %q", md, wantStatus)
	}
	caps := findFiles(t, a.Directory, storage.CaptureExt)
	sort.Strings(caps)
	for i, uid := range uids {
		var mine []string
		for _, c := range caps {
			if strings.HasPrefix(filepath.Base(c), strconv.FormatUint(uint64(uid), 10)+"_") {
				mine = append(mine, c)
			}
		}
		if len(mine) != 2 {
			t.Fatalf("uid %d: captures %v, want two (before and after the restart)", uid, mine)
		}
		got := captureSeqs(t, mine...)
		miss := senders[i].missing(got)
		for ssrc, times := range miss {
			if len(times) == 0 {
				continue
			}
			first, last := times[0], times[len(times)-1]
			span := last.Sub(first) + interval
			t.Logf("uid %d ssrc %#x: %d packets missing, sent %v before to %v after the stop; downtime %v",
				uid, ssrc, len(times), downAt.Sub(first).Round(time.Millisecond), last.Sub(downAt).Round(time.Millisecond), downtime.Round(time.Millisecond))
			if allowed := downtime + slack; span > allowed || time.Duration(len(times))*interval > allowed+interval {
				t.Errorf("uid %d ssrc %#x: %d packets over %v missing, more than the downtime %v + %v", uid, ssrc, len(times), span, downtime, slack)
			}
			if first.Before(downAt.Add(-slack)) {
				t.Errorf("uid %d ssrc %#x: a packet sent %v before the stop is missing", uid, ssrc, downAt.Sub(first))
			}
		}
		if len(miss) == 0 {
			t.Logf("uid %d: no packet missing (downtime %v)", uid, downtime.Round(time.Millisecond))
		}
	}
	if n := strings.Count(d2.out.String(), "participant joined"); n != 2 {
		t.Errorf("the restarted daemon logged %d joins, want the 2 resumed ones", n)
	}
	if strings.Contains(d2.out.String(), "recording started") {
		t.Error("the restarted daemon started a new recording")
	}
}

// TestResumeAfterKill9: SIGKILL, then the same configuration again.
func TestResumeAfterKill9(t *testing.T) {
	resumeCase(t, func(d *daemon) time.Time { return d.kill9() }, "interrupted,resumed", 100*time.Millisecond)
}

// TestResumeAfterGracefulStop: SIGTERM finalises the captures and keeps
// the recording for the next start.
func TestResumeAfterGracefulStop(t *testing.T) {
	resumeCase(t, func(d *daemon) time.Time {
		at := time.Now()
		d.signal(syscall.SIGTERM)
		if err, ok := d.waitExit(30 * time.Second); !ok || err != nil {
			t.Fatalf("graceful stop: %v (exited %v)", err, ok)
		}
		return at
	}, "resumed", 100*time.Millisecond)
}

// TestResumeKeepsSourcePin: a join's streams are pinned to the host its
// first packet came from, and a restart keeps that pin. Before, the
// restarted daemon pinned anew to whoever sent first, so another host
// could take a participant's streams over while its sender was away.
func TestResumeKeepsSourcePin(t *testing.T) {
	d := startDaemon(t)
	const channel = "pinresume"
	p := d.joinRTP(channel, 51, 0x5100, 0x5101)
	d.startRecording(channel, 51, "")
	honest := dialFrom(t, nil, p.RTPPort)
	seq := uint16(0)
	send := func(c *net.UDPConn, n int) {
		t.Helper()
		for range n {
			seq++
			if _, err := c.Write(rtpPacket(111, seq, uint32(seq)*960, p.AudioSSRC, []byte{0xf8, 0xff, 0xfe})); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(honest, 20)
	waitFor(t, "the first packets written", 10*time.Second, func() bool { return d.metric("ars_packets_written_total") >= 20 })
	// The pin is written off the packet path, just after the first packet.
	time.Sleep(time.Second)
	d.kill9()
	d2 := restartDaemon(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitHealthy(ctx, d2)

	before := dropped(d2.metrics(), "wrong_source")
	send(dialFrom(t, net.IPv4(127, 0, 0, 2), p.RTPPort), 20)
	waitFor(t, "the other host's packets refused", 10*time.Second, func() bool {
		return dropped(d2.metrics(), "wrong_source")-before >= 20
	})
	send(honest, 20)
	waitFor(t, "the honest sender's packets written after the restart", 10*time.Second, func() bool {
		return d2.metric("ars_packets_written_total") >= 20
	})
	if n := dropped(d2.metrics(), "wrong_source") - before; n != 20 {
		t.Errorf("%v packets refused as wrong_source, want the other host's 20", n)
	}
}
