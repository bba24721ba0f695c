package batch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// One root holds one capture per case; a single pass must treat each as
// its case says.
func TestPassEligibility(t *testing.T) {
	root := t.TempDir()
	dir := recDir(root, "room")
	old := time.Now().Add(-100 * time.Hour)
	cases := []struct {
		name   string
		file   string
		setup  func(t *testing.T, path string) // path is where the capture goes
		status Status
		reason string
		mp4    bool // an MP4 made by this pass is expected
	}{
		{name: "fresh", file: "1_100000.tmp", status: StatusConverted, mp4: true,
			setup: func(t *testing.T, p string) { writeCapture(t, filepath.Dir(p), filepath.Base(p)) }},
		{name: "second in same second", file: "1_100000_2.tmp", status: StatusConverted, mp4: true,
			setup: func(t *testing.T, p string) { writeCapture(t, filepath.Dir(p), filepath.Base(p)) }},
		{name: "leftover transcoding", file: "2_100000.tmp", status: StatusConverted, mp4: true,
			setup: func(t *testing.T, p string) {
				writeCapture(t, filepath.Dir(p), filepath.Base(p))
				junk := bytes.Repeat([]byte("half an mp4 "), 10000)
				if err := os.WriteFile(tmpOf(p), junk, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "live", file: "3_100000.tmp", status: StatusSkipped, reason: ReasonLive,
			setup: func(t *testing.T, p string) {
				w, err := storage.Create(p, storage.Header{Channel: "room", UID: 3, Streams: []storage.StreamInfo{media(t)[0].Info}})
				if err != nil {
					t.Fatal(err)
				}
				for _, pk := range media(t)[0].Packets[:20] {
					if err := w.Write(storage.RecordRTP, pk.At, pk.Data); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Close() })
			}},
		{name: "already converted", file: "4_100000.tmp", status: StatusSkipped, reason: ReasonDone,
			setup: func(t *testing.T, p string) {
				writeCapture(t, filepath.Dir(p), filepath.Base(p))
				if err := os.WriteFile(mp4Of(p), []byte("the earlier conversion"), storage.FileMode); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "older than max age", file: "5_100000.tmp", status: StatusSkipped, reason: ReasonOld,
			setup: func(t *testing.T, p string) {
				writeCapture(t, filepath.Dir(p), filepath.Base(p))
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, c := range cases {
		c.setup(t, filepath.Join(dir, c.file))
	}
	// Files a pass must not touch or report at all.
	ignored := []string{
		filepath.Join(dir, "notes.tmp"),
		filepath.Join(dir, "6_100000.txt"),
		filepath.Join(dir, storage.MetadataFile),
		filepath.Join(root, "scratch", "room_100000", "7_100000.tmp"), // not a day directory
		filepath.Join(root, "2026_11_21", "8_100000.tmp"),             // not in a recording directory
	}
	for _, p := range ignored {
		if err := os.MkdirAll(filepath.Dir(p), storage.DirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a capture"), storage.FileMode); err != nil {
			t.Fatal(err)
		}
	}

	logger, logs := testLogger()
	var planned int
	var notified []FileResult
	var mu sync.Mutex
	pass := NewPass(DefaultConverter(), logger, WithRoot(root), WithWorkers(2),
		WithOnPlanned(func(n int) { planned = n }),
		WithOnDone(func(fr FileResult) { mu.Lock(); notified = append(notified, fr); mu.Unlock() }))
	rep, err := pass.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]FileResult{}
	for _, fr := range rep.Files {
		if _, dup := got[fr.Path]; dup {
			t.Errorf("%s reported twice", fr.Path)
		}
		got[fr.Path] = fr
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			fr, ok := got[path]
			if !ok {
				t.Fatalf("not reported")
			}
			if fr.Status != c.status || fr.Reason != c.reason {
				t.Fatalf("status %v %q (err %v), want %v %q", fr.Status, fr.Reason, fr.Err, c.status, c.reason)
			}
			mustNotExist(t, tmpOf(path))
			if c.mp4 {
				checkMP4(t, mp4Of(path))
				if fr.Result.Bytes <= 0 || len(fr.Result.Tracks) != 2 {
					t.Errorf("result %+v", fr.Result)
				}
			} else if c.reason != ReasonDone {
				mustNotExist(t, mp4Of(path))
			}
		})
	}
	if b, _ := os.ReadFile(mp4Of(filepath.Join(dir, "4_100000.tmp"))); string(b) != "the earlier conversion" {
		t.Errorf("existing MP4 was overwritten")
	}
	for _, p := range ignored {
		if _, ok := got[p]; ok {
			t.Errorf("%s was considered", p)
		}
		mustNotExist(t, strings.TrimSuffix(p, filepath.Ext(p))+".mp4")
	}
	if rep.Converted != 3 || rep.Skipped != 3 || rep.Failed != 0 || len(rep.Files) != len(cases) {
		t.Errorf("report converted=%d skipped=%d failed=%d files=%d", rep.Converted, rep.Skipped, rep.Failed, len(rep.Files))
	}
	// Old and converted captures are ruled out while planning; the live
	// one only when it is tried.
	if planned != 4 || len(notified) != 4 {
		t.Errorf("planned %d, notified %d; want 4", planned, len(notified))
	}
	checkLog(t, logs.String(), 3, 0)
}

// checkLog checks the operator's contract: one "converted" line per MP4
// with the figures, and "error" on failure lines only.
func checkLog(t *testing.T, log string, converted, failed int) {
	t.Helper()
	var conv, errs int
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if strings.Contains(line, "msg=converted") {
			conv++
			for _, key := range []string{"duration=", "tracks=2", "video_frames=", "audio_frames=", "bytes=", "speed=", "component=transcoder"} {
				if !strings.Contains(line, key) {
					t.Errorf("converted line lacks %s: %s", key, line)
				}
			}
		}
		if strings.Contains(line, "error") {
			errs++
			if !strings.Contains(line, `msg="transcode error"`) || !strings.Contains(line, "level=ERROR") {
				t.Errorf("a line that is not a failure contains \"error\": %s", line)
			}
		}
	}
	if conv != converted || errs != failed {
		t.Errorf("%d converted lines, %d error lines; want %d, %d\n%s", conv, errs, converted, failed, log)
	}
}

func TestPassExplicitPaths(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-30 * 24 * time.Hour)
	byDir := writeCapture(t, recDir(root, "a"), "1_100000.tmp")
	byFile := writeCapture(t, recDir(root, "b"), "2_100000.tmp")
	untouched := writeCapture(t, recDir(root, "c"), "3_100000.tmp")
	for _, p := range []string{byDir, byFile, untouched} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(root, "nope")
	notTmp := filepath.Join(root, "1_100000.mov")
	if err := os.WriteFile(notTmp, []byte("x"), storage.FileMode); err != nil {
		t.Fatal(err)
	}
	logger, logs := testLogger()
	pass := NewPass(DefaultConverter(), logger, WithRoot(root), WithMaxAge(time.Hour))
	// The directory is given twice (once through its parent): one conversion.
	rep, err := pass.Run(context.Background(), nil, filepath.Dir(byDir), filepath.Dir(byDir)+"/./",
		byFile, missing, notTmp)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Converted != 2 || rep.Failed != 2 || len(rep.Files) != 4 {
		t.Fatalf("report %+v", rep)
	}
	checkMP4(t, mp4Of(byDir))
	checkMP4(t, mp4Of(byFile))
	mustNotExist(t, mp4Of(untouched))
	checkLog(t, logs.String(), 2, 2)
	for _, p := range []string{missing, notTmp} {
		if !strings.Contains(logs.String(), "file="+p) {
			t.Errorf("no line for %s", p)
		}
	}
}

func TestPassFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	dir := recDir(root, "room")
	good := writeCapture(t, dir, "1_100000.tmp")
	bad := filepath.Join(dir, "2_100000.tmp")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("garbage "), 1000), storage.FileMode); err != nil {
		t.Fatal(err)
	}
	logger, logs := testLogger()
	rep, err := NewPass(DefaultConverter(), logger, WithRoot(root)).Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Converted != 1 || rep.Failed != 1 {
		t.Fatalf("report %+v", rep)
	}
	checkMP4(t, mp4Of(good))
	mustNotExist(t, mp4Of(bad))
	mustNotExist(t, tmpOf(bad))
	checkLog(t, logs.String(), 1, 1)
}

// Two passes over one root at once convert every capture exactly once.
func TestConcurrentPassesConvertOnce(t *testing.T) {
	root := t.TempDir()
	var captures []string
	for i, ch := range []string{"a", "b", "c", "d", "e", "f"} {
		captures = append(captures, writeCapture(t, recDir(root, ch), string(rune('1'+i))+"_100000.tmp"))
	}
	cnt := newCounter(DefaultConverter())
	logger, logs := testLogger()
	reports := make([]Report, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rep, err := NewPass(cnt.convert, logger, WithRoot(root), WithWorkers(2)).Run(context.Background(), nil)
			if err != nil {
				t.Error(err)
			}
			reports[i] = rep
		}()
	}
	close(start)
	wg.Wait()
	for _, c := range captures {
		if n := cnt.runs[c]; n != 1 {
			t.Errorf("%s converted %d times", c, n)
		}
		checkMP4(t, mp4Of(c))
		mustNotExist(t, tmpOf(c))
	}
	if total := reports[0].Converted + reports[1].Converted; total != len(captures) {
		t.Errorf("passes converted %d + %d", reports[0].Converted, reports[1].Converted)
	}
	if reports[0].Failed+reports[1].Failed != 0 {
		t.Errorf("failures:\n%s", logs.String())
	}
}

// A drain lets the capture in flight finish and starts no other.
func TestPassDrain(t *testing.T) {
	root := t.TempDir()
	var captures []string
	for i := range 3 {
		captures = append(captures, writeCapture(t, recDir(root, "room"), string(rune('1'+i))+"_100000.tmp"))
	}
	g := newGate(DefaultConverter())
	logger, _ := testLogger()
	drain := make(chan struct{})
	done := make(chan Report)
	go func() {
		rep, err := NewPass(g.convert, logger, WithRoot(root), WithWorkers(1)).Run(context.Background(), drain)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	first := waitStarted(t, g)
	close(drain)
	close(g.release)
	rep := <-done
	if rep.Converted != 1 || rep.Interrupted != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range captures {
		if c == first {
			checkMP4(t, mp4Of(c))
		} else {
			mustNotExist(t, mp4Of(c))
		}
		mustNotExist(t, tmpOf(c))
	}
}

// Cancelling the context aborts the conversion in flight and removes its
// .transcoding file; the capture is left for the next pass.
func TestPassForcedStop(t *testing.T) {
	root := t.TempDir()
	src := writeCapture(t, recDir(root, "room"), "1_100000.tmp")
	g := newGate(DefaultConverter())
	logger, logs := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Report)
	go func() {
		rep, err := NewPass(g.convert, logger, WithRoot(root)).Run(ctx, nil)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	waitStarted(t, g)
	cancel()
	rep := <-done
	if rep.Interrupted != 1 || rep.Converted != 0 || rep.Failed != 0 {
		t.Fatalf("report %+v", rep)
	}
	mustNotExist(t, mp4Of(src))
	mustNotExist(t, tmpOf(src))
	checkLog(t, logs.String(), 0, 0)

	rep, err := NewPass(DefaultConverter(), logger, WithRoot(root)).Run(context.Background(), nil)
	if err != nil || rep.Converted != 1 {
		t.Fatalf("next pass: %+v %v", rep, err)
	}
	checkMP4(t, mp4Of(src))
}

func TestPassMissingRoot(t *testing.T) {
	logger, _ := testLogger()
	if _, err := NewPass(DefaultConverter(), logger, WithRoot(filepath.Join(t.TempDir(), "absent"))).Run(context.Background(), nil); err == nil {
		t.Fatal("missing root accepted")
	}
	if _, err := NewPass(DefaultConverter(), logger).Run(context.Background(), nil); err == nil {
		t.Fatal("no root accepted")
	}
}
