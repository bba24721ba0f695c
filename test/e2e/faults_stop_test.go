package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// bigMedia is real media large enough that converting it takes a while,
// so that a test can interrupt a conversion in the middle.
func bigMedia(t *testing.T) []testmedia.Stream {
	t.Helper()
	return testmedia.Generate(t, testmedia.Options{Duration: 30 * time.Second, Width: 640, Height: 360, VideoBitrate: 3000})
}

// TestTranscoderKill9MidFile: the transcoder is killed with SIGKILL while
// it converts a big capture. No .mp4 appears; the next pass converts the
// capture completely.
func TestTranscoderKill9MidFile(t *testing.T) {
	requireFFmpeg(t)
	media := bigMedia(t)
	root := t.TempDir()
	now := time.Now()
	dir := filepath.Join(root, now.Format("2006_01_02"), "big_"+now.Format("150405"))
	if err := os.MkdirAll(dir, storage.DirMode); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "7_"+now.Format("150405")+storage.CaptureExt)
	testmedia.WriteCapture(t, capture, storage.Header{Channel: "big", UID: 7, Source: "rtp", Start: now}, media)
	base := strings.TrimSuffix(capture, storage.CaptureExt)
	mp4, transcoding := base+storage.MP4Ext, base+storage.TranscodingExt

	_, bin := binaries(t)
	cmd := exec.Command(bin, "--once", "--workers", "1", "--root", root)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill once the conversion has begun: its .transcoding file exists.
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case err := <-exited:
			t.Fatalf("transcoder finished (%v) in %v before it could be killed: the capture is too small\n%s", err, time.Since(started), out.String())
		case <-deadline:
			t.Fatal("no .transcoding file appeared")
		default:
		}
		if _, err := os.Stat(transcoding); err == nil {
			break wait
		}
		time.Sleep(time.Millisecond)
	}
	// No pause: the converter runs at well over 1,000x real time, so even
	// this 30 s capture is done in tens of milliseconds.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := <-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("transcoder was not killed mid-conversion (exit %v after %v)\n%s", err, time.Since(started), out.String())
	}
	t.Logf("killed the transcoder %v after it started", time.Since(started).Round(time.Millisecond))
	if _, err := os.Stat(mp4); err == nil {
		// The kill came after the rename: the file must then be whole.
		t.Logf("the conversion finished before the kill landed")
		testmedia.ProbeMP4(t, mp4)
		return
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}

	// The next pass takes over the leftover .transcoding and completes.
	passStart := time.Now()
	if o, err := transcoder(t, "--once", "--root", root); err != nil {
		t.Fatalf("second pass: %v\n%s", err, o)
	}
	t.Logf("second pass converted in %v", time.Since(passStart).Round(time.Millisecond))
	if _, err := os.Stat(transcoding); !os.IsNotExist(err) {
		t.Errorf(".transcoding left after the second pass: %v", err)
	}
	p := testmedia.ProbeMP4(t, mp4)
	want := 0
	for _, s := range media {
		if s.Info.Kind == storage.KindVideo {
			want = s.Frames()
		}
	}
	if v := p.Stream("video"); v == nil || v.Frames != want {
		t.Errorf("video frames %+v, want %d", v, want)
	}
}

// TestSecondSignalForcesStop: the first SIGTERM begins a graceful stop that
// would wait for queued conversions; a second one makes the daemon exit at
// once, with every capture closed and whole and nothing half-converted.
// Without resume, so that the recordings end with the daemon.
func TestSecondSignalForcesStop(t *testing.T) {
	requireFFmpeg(t)
	media := bigMedia(t)
	d := startDaemon(t, "ARS_SHUTDOWN_TIMEOUT=3m", "ARS_RESUME=false")
	const n = 3
	var dirs []string
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		ch := "forced-" + string(rune('a'+i))
		uid := uint32(31 + i)
		p := d.joinMedia(ch, uid, 0xf0+uint32(2*i), 0xf1+uint32(2*i))
		dirs = append(dirs, d.startRecording(ch, uid, "").Directory)
		s := newMediaSender(t, p.RTPPort, media, p.VideoSSRC, p.AudioSSRC)
		defer s.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.send(ctx, 6, 0); err != nil {
				t.Errorf("send: %v", err)
			}
		}()
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // the last packets reach the captures

	d.signal(syscall.SIGTERM)
	waitFor(t, "the graceful stop to begin", 10*time.Second, func() bool {
		return strings.Contains(d.out.String(), "shutting down")
	})
	// Soon after, while the conversions of the stop run (they take a few
	// hundred ms here: a longer pause let the stop finish first).
	time.Sleep(20 * time.Millisecond)
	forcedAt := time.Now()
	d.signal(syscall.SIGTERM)
	err, ok := d.waitExit(30 * time.Second)
	if !ok {
		t.Fatal("daemon still running 30s after the second signal")
	}
	t.Logf("exited %v after the second signal: %v", time.Since(forcedAt).Round(time.Millisecond), err)
	log := d.out.String()
	if !strings.Contains(log, "second signal: forcing shutdown") {
		t.Errorf("the log does not mention the forced stop")
	}
	// The converter runs at thousands of times real time: on a quiet
	// machine the queue may be empty before the second signal lands. When
	// a conversion was cut short, the exit status must say so.
	interrupted := strings.Contains(log, "transcode interrupted")
	if code := d.cmd.ProcessState.ExitCode(); interrupted && code != 1 {
		t.Errorf("exit status %d after conversions were cut short, want 1", code)
	}
	converted := 0
	for i, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, ".ars-active")); !os.IsNotExist(err) {
			t.Errorf("%s: active marker left", dir)
		}
		caps := findFiles(t, dir, storage.CaptureExt)
		if len(caps) != 1 {
			t.Fatalf("%s: captures %v", dir, caps)
		}
		s := summarize(t, caps[0])
		if live, _ := storage.IsLive(caps[0]); live || s.Torn {
			t.Errorf("%s: live=%v torn=%v after a forced stop", caps[0], live, s.Torn)
		}
		if s.Stream(0xf0+uint32(2*i)) == nil {
			t.Errorf("%s: no video", caps[0])
		}
		if _, err := os.Stat(strings.TrimSuffix(caps[0], ".tmp") + ".mp4"); err == nil {
			converted++
		}
	}
	t.Logf("%d of %d captures were converted before the forced exit (interrupted: %v)", converted, n, interrupted)
	if left := findFiles(t, d.root, storage.TranscodingExt); len(left) != 0 {
		t.Errorf("half-converted files left: %v", left)
	}
	if out, err := transcoder(t, "--once", "--root", d.root); err != nil {
		t.Fatalf("transcoder after the forced stop: %v\n%s", err, out)
	}
	for _, c := range findFiles(t, d.root, storage.CaptureExt) {
		decodesCleanly(t, strings.TrimSuffix(c, ".tmp")+".mp4")
	}
}
