package transcode

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// BenchmarkConvert converts a 60 s capture (640x360 H.264 at 1 Mbit/s and
// 25 fps, two slices per picture, plus Opus) and reports media seconds
// converted per wall-clock second.
func BenchmarkConvert(b *testing.B) {
	testmedia.RequireFFmpeg(b)
	streams := testmedia.Generate(b, testmedia.Options{Duration: 60 * time.Second, Width: 640, Height: 360,
		FPS: 25, GOP: 100, ZeroLatency: true, VideoBitrate: 1000})
	dir := b.TempDir()
	src := filepath.Join(dir, "1_000000.tmp")
	testmedia.WriteCapture(b, src, storage.Header{}, streams)
	dst := filepath.Join(dir, "1_000000.mp4")
	var media time.Duration
	b.ResetTimer()
	for b.Loop() {
		res, err := ConvertFile(context.Background(), src, dst)
		if err != nil {
			b.Fatal(err)
		}
		media += res.MediaDuration
	}
	b.ReportMetric(media.Seconds()/b.Elapsed().Seconds(), "media-s/s")
}
