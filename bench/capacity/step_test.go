package capacity

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "capacity-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles a command of this module into the test's bin folder.
func build(t *testing.T, pkg, name string) string {
	t.Helper()
	out := filepath.Join(binDir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func TestAccount(t *testing.T) {
	rep := &loadgen.Report{Streams: []loadgen.StreamReport{
		{SSRC: 1, Packets: 100}, {SSRC: 2, Packets: 50}, {SSRC: 3, Packets: 10},
	}}
	w := &Written{BySSRC: map[uint32]*storage.StreamSummary{
		1: {SSRC: 1, Packets: 100},
		2: {SSRC: 2, Packets: 47, Duplicates: 2}, // 45 unique: 5 lost
		9: {SSRC: 9, Packets: 4},                 // nobody sent it
	}}
	a := Account(rep, w)
	want := Accounting{Sent: 160, Written: 145, Lost: 15, Extra: 6, StreamsSent: 3, StreamsLossy: 2, WorstLossPct: 100, MissingStream: 1}
	want.LossPct = 100 * 15.0 / 160
	if a != want {
		t.Fatalf("got  %+v\nwant %+v", a, want)
	}
}

// TestStepTiny runs the whole capacity step, floor included, on 2 channels
// for 2 s: real daemon, real API, real media, captures read back.
func TestStepTiny(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH (make test-deps installs it)")
	}
	ars := build(t, "./cmd/ars", "ars")
	bench := build(t, "./bench/cmd/arsbench", "arsbench")
	ctx := context.Background()
	m, err := loadgen.EnsureMedia(ctx, t.TempDir(), loadgen.MediaOptions{Duration: 3 * time.Second, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := loadgen.LoadTracks(m.Capture)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		Daemon: DaemonConfig{Binary: ars, Ports: 3, RcvBuf: 8 << 20, Nice: 5,
			AppID: "970ca35de60c44645bbae8a215061b33", AppCert: "5cfd2fd1755d40ecb72977518be15d3b"},
		WorkDir:  t.TempDir(),
		Profile:  true,
		FloorExe: bench,
		Tracks:   tr,
		Send:     loadgen.SendOptions{Duration: 2 * time.Second, Seed: 3},
		Settle:   200 * time.Millisecond,
	}
	st, err := RunStep(ctx, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := st.Account
	if a.StreamsSent != 8 || a.Sent == 0 || a.Sent != st.Report.Packets {
		t.Fatalf("sent %+v, report %d packets", a, st.Report.Packets)
	}
	// A tiny load on loopback with big buffers loses nothing: any loss
	// here is an accounting or recording bug.
	if a.Lost != 0 || a.Extra != 0 || a.MissingStream != 0 || a.Written != a.Sent {
		t.Fatalf("accounting %+v", a)
	}
	if st.Captures != 4 || st.TornCaptures != 0 {
		t.Fatalf("captures %d (torn %d), want 4 (one per participant)", st.Captures, st.TornCaptures)
	}
	// Every record carries 16 bytes of framing beside the packet.
	if min := int64(st.Report.Bytes + 16*st.Report.Packets); st.DiskBytes < min {
		t.Fatalf("captures hold %d bytes, less than the %d sent and framed", st.DiskBytes, min)
	}
	if st.IdleRSS <= 0 || st.LoadedRSS <= 0 || st.DaemonCPUSeconds < 0 {
		t.Fatalf("proc figures %+v", st)
	}
	if st.Floor == nil || st.Floor.Sent != a.Sent || st.Floor.Received != st.Floor.Sent {
		t.Fatalf("floor %+v, sent %d", st.Floor, a.Sent)
	}
	// The daemon ran at the asked niceness, and its CPU profile was taken.
	if nice := st.DaemonNice; nice != 5 {
		t.Errorf("daemon niceness %d, want 5", nice)
	}
	if fi, err := os.Stat(st.Profile); err != nil || fi.Size() == 0 {
		t.Errorf("daemon profile %q: %v", st.Profile, err)
	}
}
