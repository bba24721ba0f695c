package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// TestCrashKill9Recovery: the daemon is killed with SIGKILL while ffmpeg
// sends. A new daemon on the same root marks the recording interrupted and
// records at once; the transcoder turns the orphaned capture into an MP4
// holding all but (at most about) the last flush interval.
//
// It runs with ARS_RESUME=false, the daemon that keeps no state: with
// resume on (the default) the recording carries on instead
// (TestResumeAfterKill9).
func TestCrashKill9Recovery(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t, "ARS_RESUME=false")
	const channel = "crash-test"
	p := d.joinRTP(channel, 11, 0xd1, 0xd2)
	a := d.startRecording(channel, 11, "before the crash")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sender := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 20)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = sender.Wait() }()
	waitFor(t, "a capture", 10*time.Second, func() bool { return len(d.status(channel).Users) == 1 && d.status(channel).Users[0].File != "" })
	time.Sleep(4 * time.Second)
	killedAt := d.kill9()
	cancel()
	_ = sender.Wait()

	captures := findFiles(t, a.Directory, storage.CaptureExt)
	if len(captures) != 1 {
		t.Fatalf("captures after the crash: %v", captures)
	}
	orphan := captures[0]
	if live, err := storage.IsLive(orphan); err != nil || live {
		t.Fatalf("orphan capture still locked: %v %v", live, err)
	}
	if _, err := os.Stat(filepath.Join(a.Directory, ".ars-active")); err != nil {
		t.Fatalf("the crash should leave the active marker: %v", err)
	}

	// Restart on the same root: the recording is marked, and a new one
	// starts at once.
	d2 := startDaemonOn(t, d.root, "ARS_RESUME=false")
	if md := readMetadata(t, a.Directory); md.ErrorStatus != storage.StatusInterrupted || md.Tag != "before the crash" {
		t.Fatalf("Metadata.txt after restart: %+v", md)
	}
	if _, err := os.Stat(filepath.Join(a.Directory, ".ars-active")); !os.IsNotExist(err) {
		t.Fatalf("active marker not cleared on restart: %v", err)
	}
	if !strings.Contains(d2.out.String(), "marked recording interrupted") {
		t.Error("restart did not log the interrupted recording")
	}
	p2 := d2.joinRTP(channel, 11, 0xd1, 0xd2)
	b := d2.startRecording(channel, 11, "after the crash")
	if !b.Started || b.Directory == a.Directory {
		t.Fatalf("start after restart: %+v", b)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := sendMedia(ctx2, p2.RTPPort, p2.VideoSSRC, p2.AudioSSRC, 2).Run(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	d2.stopRecording(channel, 11)
	after := findFiles(t, b.Directory, storage.CaptureExt)
	if len(after) != 1 {
		t.Fatalf("captures of the new recording: %v", after)
	}
	checkCapture(t, after[0], channel, 11, 0xd1, 0xd2)
	if md := readMetadata(t, b.Directory); md.ErrorStatus != "" {
		t.Fatalf("new recording's Metadata.txt: %+v", md)
	}

	// The daemon never converts what an earlier run left; the transcoder does.
	if _, err := os.Stat(strings.TrimSuffix(orphan, ".tmp") + ".mp4"); err == nil {
		t.Fatal("the orphan was converted before the transcoder ran")
	}
	out, err := transcoder(t, "--once", "--root", d.root)
	if err != nil {
		t.Fatalf("transcoder: %v\n%s", err, out)
	}
	mp4 := strings.TrimSuffix(orphan, ".tmp") + ".mp4"
	decodesCleanly(t, mp4)
	sum := summarize(t, orphan)
	sent := killedAt.Sub(sum.Header.Start)
	got := mp4Duration(t, mp4)
	lost := sent - got
	t.Logf("orphan: %d records, torn=%v; sent for %v before the kill, MP4 holds %v (lost %v)", sum.Records, sum.Torn, sent.Round(time.Millisecond), got.Round(time.Millisecond), lost.Round(time.Millisecond))
	// The daemon hands buffers to the kernel every 500 ms; a SIGKILL loses
	// at most what was still in the process, plus the last frame's length.
	if lost > 1200*time.Millisecond {
		t.Errorf("MP4 holds %v of %v sent: lost %v, want at most about a second", got, sent, lost)
	}
	if got > sent+300*time.Millisecond {
		t.Errorf("MP4 holds %v, more than the %v sent", got, sent)
	}
	if left := findFiles(t, d.root, storage.TranscodingExt); len(left) != 0 {
		t.Errorf("transcoding files left: %v", left)
	}
}

// TestGracefulStopFinalises: SIGTERM during recording closes, flushes and
// syncs every capture, clears the active markers, converts or leaves each
// capture whole, and exits 0 within the stop timeout. With ARS_RESUME=false:
// with resume on, the recordings are kept for the next start instead
// (TestResumeAfterGracefulStop).
func TestGracefulStopFinalises(t *testing.T) {
	requireFFmpeg(t)
	const stopTimeout = 20 * time.Second
	d := startDaemon(t, "ARS_SHUTDOWN_TIMEOUT="+stopTimeout.String(), "ARS_RESUME=false")
	channels := []string{"graceful-a", "graceful-b"}
	var dirs []string
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var senders []func() error
	for i, ch := range channels {
		uid := uint32(21 + i)
		p := d.joinRTP(ch, uid, 0xe0+uint32(2*i), 0xe1+uint32(2*i))
		dirs = append(dirs, d.startRecording(ch, uid, "").Directory)
		s := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 10)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s.Wait)
	}
	defer func() {
		cancel()
		for _, w := range senders {
			_ = w()
		}
	}()
	waitFor(t, "both captures", 10*time.Second, func() bool {
		for _, ch := range channels {
			if st := d.status(ch); len(st.Users) != 1 || st.Users[0].File == "" {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	written := d.metric("ars_packets_written_total")

	sigAt := time.Now()
	d.signal(syscall.SIGTERM)
	err, ok := d.waitExit(stopTimeout + 5*time.Second)
	if !ok {
		t.Fatalf("daemon still running %v after SIGTERM", stopTimeout+5*time.Second)
	}
	took := time.Since(sigAt)
	if err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.out.String())
	}
	t.Logf("graceful stop took %v", took.Round(time.Millisecond))
	if !strings.Contains(d.out.String(), "ars stopped") {
		t.Error("no 'ars stopped' in the log")
	}

	var records uint64
	for i, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, ".ars-active")); !os.IsNotExist(err) {
			t.Errorf("%s: active marker left after a graceful stop", dir)
		}
		if md := readMetadata(t, dir); md.ErrorStatus != "" {
			t.Errorf("%s: Metadata.txt %+v", dir, md)
		}
		caps := findFiles(t, dir, storage.CaptureExt)
		if len(caps) != 1 {
			t.Fatalf("%s: captures %v", dir, caps)
		}
		s := checkCapture(t, caps[0], channels[i], uint32(21+i), 0xe0+uint32(2*i), 0xe1+uint32(2*i))
		records += s.Records
	}
	if float64(records) < written {
		t.Errorf("captures hold %d records, %v were written before the signal", records, written)
	}
	if left := findFiles(t, d.root, storage.TranscodingExt); len(left) != 0 {
		t.Errorf("transcoding files left: %v", left)
	}
	// Whatever the daemon did not convert, the hourly pass does.
	if out, err := transcoder(t, "--once", "--root", d.root); err != nil {
		t.Fatalf("transcoder: %v\n%s", err, out)
	}
	for _, c := range findFiles(t, d.root, storage.CaptureExt) {
		decodesCleanly(t, strings.TrimSuffix(c, ".tmp")+".mp4")
	}
}
