package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testfs"
)

// TestDiskFull: the recording root fills up while ffmpeg sends. The
// daemon logs the error, marks the recording write_failed, closes what it
// held, keeps answering, and records normally once space returns. The
// transcoder on a full disk fails without leaving partial files and
// succeeds on the next pass.
func TestDiskFull(t *testing.T) {
	requireFFmpeg(t)
	root := testfs.Small(t, "size=8m,mode=0750")
	d := startDaemonOn(t, root, "ARS_TRANSCODE_ON_STOP=false")
	const channel = "full-disk"
	p := d.joinRTP(channel, 41, 0x4101, 0x4102)
	a := d.startRecording(channel, 41, "disk fills")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sender := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 22)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = sender.Wait() }()
	// Two seconds on disk first, so that the cut capture holds media worth
	// converting (what was still buffered when the disk filled is lost).
	waitFor(t, "packets written", 10*time.Second, func() bool { return d.metric("ars_packets_written_total") > 250 })
	time.Sleep(time.Second)
	baseFDs := len(fds(t, d.pid()))

	filler := testfs.Fill(t, root)
	waitFor(t, "a write error", 15*time.Second, func() bool { return d.metric("ars_write_errors_total") > 0 })
	waitFor(t, "the failed capture to be closed", 10*time.Second, func() bool { return d.metric("ars_open_capture_files") == 0 })
	if !strings.Contains(d.out.String(), "recording write error") {
		t.Error("no write error in the log")
	}
	// While the disk is full: the API answers, the failing capture is no
	// longer held open, and the retries every 5 s leak nothing.
	if !d.healthy() {
		t.Fatal("API not healthy on a full disk")
	}
	if st := d.status(channel); !st.Recording {
		t.Fatalf("status on a full disk: %+v", st)
	}
	var started map[string]any
	code := d.call("POST", "/v1/recording/start", map[string]any{"channel": "other", "uid": 42, "key": d.key("recording", "other", 42)}, &started)
	if code < 500 || started["error"] == nil {
		t.Errorf("start on a full disk: %d %v, want a 5xx error answer", code, started)
	}
	time.Sleep(6 * time.Second) // past one retry pause
	if held := fdsUnder(t, d.pid(), root); len(held) != 0 {
		t.Errorf("descriptors held under the root on a full disk: %v", held)
	}
	if n := len(fds(t, d.pid())); n > baseFDs {
		t.Errorf("%d descriptors open on a full disk, %d before", n, baseFDs)
	}
	if md := readMetadata(t, a.Directory); md.ErrorStatus != storage.StatusWriteFailed {
		t.Errorf("Metadata.txt on a full disk: %+v", md)
	}

	// Space returns: the next retry opens a new capture and records.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new capture", 10*time.Second, func() bool { return d.metric("ars_open_capture_files") == 1 })
	mark := d.metric("ars_packets_written_total")
	waitFor(t, "recording to resume", 10*time.Second, func() bool { return d.metric("ars_packets_written_total") > mark+100 })
	// A channel started now records normally too.
	q := d.joinRTP("after-full", 43, 0x4301, 0x4302)
	b := d.startRecording("after-full", 43, "")
	if err := sendMedia(ctx, q.RTPPort, q.VideoSSRC, q.AudioSSRC, 2).Run(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	d.stopRecording("after-full", 43)
	cancel()
	_ = sender.Wait()
	d.stopRecording(channel, 41)
	if held := fdsUnder(t, d.pid(), root); len(held) != 0 {
		t.Errorf("descriptors held under the root after stop: %v", held)
	}
	if md := readMetadata(t, a.Directory); md.ErrorStatus != storage.StatusWriteFailed {
		t.Errorf("Metadata.txt after stop: %+v", md)
	}
	if md := readMetadata(t, b.Directory); md.ErrorStatus != "" {
		t.Errorf("Metadata.txt of the recording after recovery: %+v", md)
	}
	newer := findFiles(t, b.Directory, storage.CaptureExt)
	if len(newer) != 1 {
		t.Fatalf("captures after recovery: %v", newer)
	}
	checkCapture(t, newer[0], "after-full", 43, q.VideoSSRC, q.AudioSSRC)

	// The full-disk recording: one capture cut by the full disk, then one
	// from the retry after space returned, which has no gap.
	caps := findFiles(t, a.Directory, storage.CaptureExt)
	t.Logf("captures of the full-disk recording: %v", caps)
	if len(caps) != 2 {
		t.Fatalf("captures of the full-disk recording: %v, want the cut one and the resumed one", caps)
	}
	for _, c := range caps {
		s := summarize(t, c)
		vs := s.Stream(p.VideoSSRC)
		if vs == nil || vs.Gaps != 0 {
			t.Errorf("%s: video %+v", c, vs)
		}
		t.Logf("%s: %d records, torn=%v", filepath.Base(c), s.Records, s.Torn)
	}

	// The transcoder on a full disk fails cleanly...
	filler = testfs.Fill(t, root)
	out, err := transcoder(t, "--once", "--root", root)
	if err == nil {
		t.Errorf("transcoder succeeded on a full disk:\n%s", out)
	}
	if mp4s := findFiles(t, root, storage.MP4Ext); len(mp4s) != 0 {
		t.Errorf("MP4s written on a full disk: %v", mp4s)
	}
	if left := findFiles(t, root, storage.TranscodingExt); len(left) != 0 {
		t.Errorf("transcoding files left on a full disk: %v", left)
	}
	if !strings.Contains(out, "no space left on device") {
		t.Errorf("the transcoder does not say the disk is full:\n%s", out)
	}
	// ...and succeeds on the next pass.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if out, err := transcoder(t, "--once", "--root", root); err != nil {
		t.Fatalf("transcoder after space returned: %v\n%s", err, out)
	}
	for _, c := range findFiles(t, root, storage.CaptureExt) {
		decodesCleanly(t, strings.TrimSuffix(c, ".tmp")+".mp4")
	}
}
