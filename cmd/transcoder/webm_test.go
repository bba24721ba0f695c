package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestRunWebM: --webm writes a VP8 capture's WebM beside it, which
// decodes silently; an H.264 capture fails the run (exit 1) and leaves
// nothing; --webm without PATHs is a usage error.
func TestRunWebM(t *testing.T) {
	testmedia.RequireFFmpeg(t)
	dir := t.TempDir()
	vp8 := filepath.Join(dir, "7_100000.tmp")
	testmedia.WriteCapture(t, vp8, storage.Header{Channel: "c", UID: 7, Source: "rtp"},
		testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second, Codec: "VP8"}))
	h264 := filepath.Join(dir, "8_100000.tmp")
	testmedia.WriteCapture(t, h264, storage.Header{Channel: "c", UID: 8, Source: "rtp"},
		testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second}))

	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--webm", vp8, h264}, &out, &errOut)
	if !errors.Is(err, errFailed) || exitCode(err) != 1 {
		t.Fatalf("run: %v (exit %d)\n%s", err, exitCode(err), errOut.String())
	}
	webm := strings.TrimSuffix(vp8, ".tmp") + ".webm"
	p := testmedia.ProbeMP4(t, webm)
	if v := p.Stream("video"); v == nil || v.Codec != "vp8" || v.Frames != 50 {
		t.Errorf("%s: %+v", webm, p.Streams)
	}
	if !strings.Contains(out.String(), webm) {
		t.Errorf("stdout %q does not name %s", out.String(), webm)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "8_") && e.Name() != "8_100000.tmp" || strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if err := run(context.Background(), []string{"--webm"}, &out, &errOut); exitCode(err) != 2 {
		t.Errorf("--webm without PATHs: %v", err)
	}
}
