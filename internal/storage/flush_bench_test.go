package storage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFlushInterval is what the flush interval (ARS_FLUSH_INTERVAL)
// costs per packet at the capacity shape: 2,000 captures (1,000
// two-person channels), each receiving the capacity load's 57.4 video
// packets (1,000 bytes) and 50 audio packets (100 bytes) a second, in a
// random capture order, every capture flushed at each tick of a virtual
// clock as the session manager's flushAll does. One op is one packet. The
// files live on the test's temporary directory and are truncated every 2
// virtual seconds, off the clock, so that the page cache stays small.
//
// Besides ns/op it reports the benchmark thread's own CPU time per packet
// (getrusage RUSAGE_THREAD; the packet path and the flushes both run on
// it), split into user-ns/op and sys-ns/op, and write syscalls per packet.
// The crashbuf cases keep each capture's buffer in /dev/shm
// (WithCrashBuffer), as the daemon does by default.
// Run with a -benchtime of whole virtual seconds (214,800 packets each):
//
//	go test -run '^$' -bench FlushInterval -benchtime 2148000x -count 5 ./internal/storage
func BenchmarkFlushInterval(b *testing.B) {
	const (
		captures   = 2000
		videoPPS   = 57.4
		audioPPS   = 50.0
		perCapture = videoPPS + audioPPS // packets a second
		truncEvery = 2 * time.Second
	)
	for _, c := range []struct {
		iv    time.Duration
		crash bool // buffers in shared memory (WithCrashBuffer)
	}{
		{50 * time.Millisecond, false}, {500 * time.Millisecond, false}, {time.Second, false}, {0, false},
		{500 * time.Millisecond, true}, {time.Second, true},
	} {
		iv := c.iv
		name := fmt.Sprint("interval=", iv)
		if iv == 0 {
			name = "interval=none" // only when a 64 KB buffer fills
		}
		var opts []CreateOption
		if c.crash {
			name += "/crashbuf"
			shm, err := os.MkdirTemp("/dev/shm", "ars-bench-")
			if err != nil {
				b.Skipf("no /dev/shm: %v", err)
			}
			b.Cleanup(func() { _ = os.RemoveAll(shm) })
			opts = append(opts, WithCrashBuffer(shm))
		}
		b.Run(name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			dir := b.TempDir()
			ws := make([]*Writer, captures)
			for i := range ws {
				w, err := Create(filepath.Join(dir, fmt.Sprintf("%d.tmp", i)), testHeader(), opts...)
				if err != nil {
					b.Fatal(err)
				}
				ws[i] = w
			}
			defer func() {
				for _, w := range ws {
					_ = w.Close()
				}
			}()
			video, audio := rtpPacket(1111, 1, 1000), rtpPacket(2222, 1, 100)
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]int32, 1<<16)
			kinds := make([]bool, 1<<16) // true: video
			for i := range order {
				order[i] = int32(rng.IntN(captures))
				kinds[i] = rng.Float64() < videoPPS/perCapture
			}
			total := perCapture * captures // packets a second, all captures
			tick := int(total * iv.Seconds())
			trunc := int(total * truncEvery.Seconds())
			var cpu, mark [2]int64
			read := func() [2]int64 {
				var ru syscall.Rusage
				if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
					b.Fatal(err)
				}
				return [2]int64{ru.Utime.Nano(), ru.Stime.Nano()}
			}
			syscw := func() uint64 { return procWrites(b) }
			writes0 := syscw()
			var offClock uint64
			b.ReportAllocs()
			b.ResetTimer()
			mark = read()
			for i := 0; b.Loop(); i++ {
				j := i & (len(order) - 1)
				p := audio
				if kinds[j] {
					p = video
				}
				if err := ws[order[j]].Write(RecordRTP, time.Duration(i), p); err != nil {
					b.Fatal(err)
				}
				if tick > 0 && (i+1)%tick == 0 {
					for _, w := range ws {
						if err := w.Flush(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if (i+1)%trunc == 0 {
					now := read()
					cpu[0], cpu[1] = cpu[0]+now[0]-mark[0], cpu[1]+now[1]-mark[1]
					b.StopTimer()
					w0 := syscw()
					for _, w := range ws {
						if err := w.Flush(); err != nil {
							b.Fatal(err)
						}
						if err := w.file.Truncate(0); err != nil {
							b.Fatal(err)
						}
					}
					offClock += syscw() - w0
					b.StartTimer()
					mark = read()
				}
			}
			now := read()
			cpu[0], cpu[1] = cpu[0]+now[0]-mark[0], cpu[1]+now[1]-mark[1]
			n := float64(b.N)
			b.ReportMetric(float64(cpu[0])/n, "user-ns/op")
			b.ReportMetric(float64(cpu[1])/n, "sys-ns/op")
			b.ReportMetric(float64(syscw()-writes0-offClock)/n, "writes/op")
		})
	}
}

// procWrites is the process's write syscalls so far (/proc/self/io syscw).
func procWrites(b *testing.B) uint64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "syscw: ")
	v, _, _ := strings.Cut(rest, "\n")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
