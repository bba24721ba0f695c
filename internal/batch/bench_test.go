package batch

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// BenchmarkConvertOne measures one capture through the whole per-file
// path (checks, lock, conversion, fsync, rename) and reports the speed as
// media seconds per wall-clock second, the figure the guide quotes (5x).
func BenchmarkConvertOne(b *testing.B) {
	streams := testmedia.Generate(b, testmedia.Options{Duration: 10 * time.Second, Width: 640, Height: 360})
	dir := b.TempDir()
	src := dir + "/1_100000.tmp"
	testmedia.WriteCapture(b, src, storage.Header{Channel: "bench", UID: 1}, streams)
	fi, _ := os.Stat(src)
	b.SetBytes(fi.Size())
	convert := DefaultConverter()
	var media time.Duration
	for b.Loop() {
		fr := convertOne(context.Background(), convert, src)
		if fr.Status != StatusConverted {
			b.Fatalf("%v %v", fr.Status, fr.Err)
		}
		media += fr.Result.MediaDuration
		b.StopTimer()
		if err := os.Remove(fr.MP4); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(media.Seconds()/b.Elapsed().Seconds(), "x-realtime")
}
