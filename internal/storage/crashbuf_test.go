package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testfs"
)

// readAll reads every record of a capture and the error that ended it.
func readAll(t *testing.T, path string) ([]Record, error) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if err != nil {
			return recs, err
		}
		rec.Data = bytes.Clone(rec.Data)
		recs = append(recs, rec)
	}
}

func crashPacket(i int) []byte { return rtpPacket(1111, uint16(i), 12+i%1500) }

// recDir makes (and returns) a recording directory of the layout at root:
// recovery writes only into captures in one.
func recDir(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "2026_12_07", "room_120000")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// crashWriter creates the crash-buffered capture dir/name and writes
// packets 0..n-1 into it.
func crashWriter(t *testing.T, dir, bufs, name string, n int) (*Writer, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	w, err := Create(path, testHeader(), WithCrashBuffer(bufs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(RecordRTP, time.Duration(i), crashPacket(i)); err != nil {
			t.Fatal(err)
		}
	}
	return w, path
}

// checkRecords fails unless the capture holds exactly packets 0..n-1 and
// ends cleanly.
func checkRecords(t *testing.T, path string, n int) {
	t.Helper()
	recs, err := readAll(t, path)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("capture ended with %v after %d records, want a clean end", err, len(recs))
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.At != time.Duration(i) || !bytes.Equal(r.Data, crashPacket(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// A crash-buffered capture reads back like a heap-buffered one, records of
// every size crossing the buffer's end at every phase; Close removes the
// buffer file.
func TestCrashBufferRoundTrip(t *testing.T) {
	root, bufs := t.TempDir(), t.TempDir()
	path := filepath.Join(root, "7_120000.tmp")
	w, err := Create(path, testHeader(), WithCrashBuffer(bufs))
	if err != nil {
		t.Fatal(err)
	}
	if !w.CrashBuffered() {
		t.Fatal("not crash buffered")
	}
	const n = 3000 // about 2.3 MB: 35 buffer fills
	for i := range n {
		if err := w.Write(RecordRTP, time.Duration(i), crashPacket(i)); err != nil {
			t.Fatal(err)
		}
		if i%700 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A record larger than the whole buffer goes straight to the file.
	big := make([]byte, MaxRecordPayload)
	if err := w.Write(RecordRTCP, time.Duration(n), big); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(bufs, "*")); len(left) != 0 {
		t.Fatalf("buffer files left after Close: %v", left)
	}
	recs, err := readAll(t, path)
	if !errors.Is(err, io.EOF) || len(recs) != n+1 || len(recs[n].Data) != MaxRecordPayload {
		t.Fatalf("%d records, end %v", len(recs), err)
	}
	for i := range n {
		if !bytes.Equal(recs[i].Data, crashPacket(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// crashHelperEnv makes the test binary the process that is killed.
const crashHelperEnv = "ARS_CRASHBUF_HELPER"

// TestCrashBufferHelper is not a test: run by TestCrashBufferSurvivesKill
// in a child process, it writes records and is killed with SIGKILL in the
// middle of its capture, as the daemon is by kill -9.
func TestCrashBufferHelper(t *testing.T) {
	spec := os.Getenv(crashHelperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	var root, bufs string
	var n, flushAt int
	if _, err := fmt.Sscanf(spec, "%s %s %d %d", &root, &bufs, &n, &flushAt); err != nil {
		t.Fatal(err)
	}
	w, err := Create(filepath.Join(recDir(t, root), "9_120000.tmp"), testHeader(), WithCrashBuffer(bufs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(RecordRTP, time.Duration(i), crashPacket(i)); err != nil {
			t.Fatal(err)
		}
		if i == flushAt {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

// kill -9 in the middle of a capture: the next run's RecoverBuffers puts
// everything the killed process had written back into the capture, with
// nothing twice, and removes the buffer.
func TestCrashBufferSurvivesKill(t *testing.T) {
	for _, tc := range []struct{ n, flushAt int }{
		{0, -1},      // only the header
		{40, -1},     // all in the buffer
		{500, 200},   // part written, part in the buffer
		{3000, 2999}, // all written by the last flush
		{3001, 10},   // buffer fills several times
	} {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			root, bufs := t.TempDir(), t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBufferHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", crashHelperEnv, root, bufs, tc.n, tc.flushAt))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper did not die by SIGKILL: %v\n%s", err, out)
			}
			path := filepath.Join(recDir(t, root), "9_120000.tmp")
			got, err := RecoverBuffers(bufs, Layout{Root: root})
			if err != nil || len(got) != 1 || got[0].Err != nil || got[0].Capture != path {
				t.Fatalf("RecoverBuffers: %+v, %v", got, err)
			}
			checkRecords(t, path, tc.n)
			if left, _ := filepath.Glob(filepath.Join(bufs, "*")); len(left) != 0 {
				t.Fatalf("buffer files left after recovery: %v", left)
			}
			// Recovering again changes nothing.
			if again, _ := RecoverBuffers(bufs, Layout{Root: root}); len(again) != 0 {
				t.Fatalf("second recovery: %+v", again)
			}
		})
	}
}

// A crash between a buffer's write(2) and the header update it makes finds
// the bytes in the capture already: they are not appended twice.
func TestCrashBufferWrittenNotCommitted(t *testing.T) {
	root, bufs := t.TempDir(), t.TempDir()
	w, path := crashWriter(t, recDir(t, root), bufs, "3_120000.tmp", 30)
	// The write of the buffer's bytes happened; the "process" died
	// before the header said so. Then the descriptor (and flock) go with
	// the process.
	if _, err := w.file.Write(w.cb.data[:w.cb.n]); err != nil {
		t.Fatal(err)
	}
	_ = w.file.Close()
	got, err := RecoverBuffers(bufs, Layout{Root: root})
	if err != nil || len(got) != 1 || got[0].Err != nil || got[0].Bytes != 0 {
		t.Fatalf("RecoverBuffers: %+v, %v", got, err)
	}
	checkRecords(t, path, 30)
}

// Recovery leaves a live writer's buffer alone and refuses buffers that
// name files outside the recording roots or are not buffers at all.
func TestRecoverBuffersRefuses(t *testing.T) {
	root, bufs, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	dir := recDir(t, root)
	live, livePath := crashWriter(t, dir, bufs, "1_120000.tmp", 1)
	defer live.Close()
	// A recording directory, but of another root.
	outside, _ := crashWriter(t, recDir(t, elsewhere), bufs, "2_120000.tmp", 0)
	outsideBuf := outside.cb.path
	_ = outside.file.Close() // "crashed": its lock is gone
	if err := os.WriteFile(filepath.Join(bufs, "junk"+CrashBufferExt), []byte("not a buffer"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := RecoverBuffers(bufs, Layout{Root: root})
	if err != nil || len(got) != 3 {
		t.Fatalf("RecoverBuffers: %+v, %v", got, err)
	}
	byBuf := map[string]error{}
	for _, rb := range got {
		byBuf[rb.Buffer] = rb.Err
	}
	if !errors.Is(byBuf[live.cb.path], ErrLocked) {
		t.Errorf("live writer's buffer: %v, want ErrLocked", byBuf[live.cb.path])
	}
	if _, err := os.Stat(live.cb.path); err != nil {
		t.Errorf("live writer's buffer removed: %v", err)
	}
	if !errors.Is(byBuf[outsideBuf], ErrBufferOutsideRoot) {
		t.Errorf("buffer outside the root: %v", byBuf[outsideBuf])
	}
	if !errors.Is(byBuf[filepath.Join(bufs, "junk"+CrashBufferExt)], ErrNotCrashBuffer) {
		t.Errorf("junk buffer: %v", byBuf[filepath.Join(bufs, "junk"+CrashBufferExt)])
	}
	for _, p := range []string{outsideBuf, filepath.Join(bufs, "junk"+CrashBufferExt)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused buffer %s kept: %v", p, err)
		}
	}
	// The live capture is untouched and goes on.
	if err := live.Write(RecordRTP, 1, crashPacket(1)); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, livePath, 2)
}

// A record the kill tore in the buffer (its copy not finished) is not
// recovered; every record before it is.
func TestCrashBufferTornRecord(t *testing.T) {
	root, bufs := t.TempDir(), t.TempDir()
	w, path := crashWriter(t, recDir(t, root), bufs, "4_120000.tmp", 30)
	w.cb.data[w.cb.n-1] ^= 0xff // the last record's trailer, half written
	_ = w.file.Close()
	got, err := RecoverBuffers(bufs, Layout{Root: root})
	if err != nil || len(got) != 1 || got[0].Err != nil {
		t.Fatalf("RecoverBuffers: %+v, %v", got, err)
	}
	checkRecords(t, path, 29)
}

func FuzzIntactRecords(f *testing.F) {
	var buf bytes.Buffer
	for i := range 3 {
		p := crashPacket(i)
		var h [recordHeaderSize]byte
		h[0] = byte(RecordRTP)
		h[2], h[3] = byte(len(p)>>8), byte(len(p))
		buf.Write(h[:])
		buf.Write(p)
		var tr [recordTrailerSize]byte
		sum := crc32Record(h[:], p)
		tr[0], tr[1], tr[2], tr[3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
		buf.Write(tr[:])
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := intactRecords(b)
		if n < 0 || n > len(b) {
			t.Fatalf("intact length %d of %d bytes", n, len(b))
		}
		if n > 0 && intactRecords(b[:n]) != n {
			t.Fatal("the intact prefix is not intact by itself")
		}
	})
}

// A full buffer filesystem refuses the buffer with ErrCrashBuffer (from
// fallocate) and leaves no capture behind: never a fault on a store later.
func TestCrashBufferOnFullTmpfs(t *testing.T) {
	root := t.TempDir()
	bufs := testfs.Small(t, "size=1m")
	testfs.Fill(t, bufs)
	path := filepath.Join(root, "5_120000.tmp")
	if _, err := Create(path, testHeader(), WithCrashBuffer(bufs)); !errors.Is(err, ErrCrashBuffer) {
		t.Fatalf("Create with a full buffer directory: %v, want ErrCrashBuffer", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("capture left behind: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(bufs, "*"+CrashBufferExt)); len(left) != 0 {
		t.Fatalf("buffer files left: %v", left)
	}
}
