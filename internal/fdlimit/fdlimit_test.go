package fdlimit

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

func TestMakePlan(t *testing.T) {
	cases := []struct {
		limit                 uint64
		base, reserve, conns  int
		wantReserve, wantConn int
		shrunk                bool
	}{
		{1 << 20, 74, 1024, 2048, 1024, 2048, false}, // a systemd unit's limit: everything fits
		{4096, 74, 1024, 2048, 1024, 2048, false},
		{2048, 74, 1024, 2048, 1024, 950, true},                      // the HTTP budget shrinks, the reserve holds
		{1024, 74, 1024, 2048, 1024 - 74 - MinConns, MinConns, true}, // the reserve shrinks only to leave MinConns
	}
	for _, tc := range cases {
		p, err := MakePlan(tc.limit, tc.base, tc.reserve, tc.conns)
		if err != nil || p.Reserve != tc.wantReserve || p.MaxConns != tc.wantConn || p.Shrunk != tc.shrunk {
			t.Errorf("MakePlan(%d, %d, %d, %d) = %+v, %v; want reserve %d conns %d shrunk %v",
				tc.limit, tc.base, tc.reserve, tc.conns, p, err, tc.wantReserve, tc.wantConn, tc.shrunk)
		}
		if p.Base+p.Reserve+p.MaxConns > p.Limit {
			t.Errorf("plan %+v overcommits", p)
		}
	}
	if _, err := MakePlan(80, 74, 10, 10); !errors.Is(err, ErrLimitTooSmall) {
		t.Errorf("a limit below the daemon's own needs: %v", err)
	}
}

func TestRaiseReachesTheHardLimit(t *testing.T) {
	before, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	lowered := before.Hard / 2
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lowered, Max: before.Hard}); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: before.Soft, Max: before.Hard})
	got, err := Raise()
	if err != nil || got.Soft != before.Hard || got.Hard != before.Hard {
		t.Fatalf("Raise from %d: %+v %v", lowered, got, err)
	}
}

// TestReserveStopsBeforeTheLimit lowers this process's own soft limit and
// opens real files as network connections would: Allow turns false with
// exactly the reserve still free.
func TestReserveStopsBeforeTheLimit(t *testing.T) {
	open, err := CountOpen()
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i := 0; i < 10; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if n, _ := CountOpen(); n != open+10 {
		t.Fatalf("CountOpen: %d after opening 10 more than %d", n, open)
	}
	lim, _ := Get()
	soft := uint64(open + 10 + 200)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: soft, Max: lim.Hard}); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Soft, Max: lim.Hard})
	const reserve = 100
	var counted int
	r := NewReserve(int(soft), reserve, func(n int) { counted = n })
	r.every = 0 // count on every call
	admitted := 0
	for r.Allow(0) {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("open after %d admitted: %v", admitted, err)
		}
		files = append(files, f)
		admitted++
		if admitted > 300 {
			t.Fatal("Allow never said no")
		}
	}
	left := int(soft) - counted
	t.Logf("admitted %d descriptors, %d of %d left free", admitted, left, soft)
	if left < reserve || left > reserve+2 {
		t.Errorf("%d descriptors left free, want the reserve of %d", left, reserve)
	}
	// The reserve is really there: files still open.
	for i := 0; i < reserve-2; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("a file in the reserve failed: %v", err)
		}
		files = append(files, f)
	}
}

// TestReserveEstimatesBetweenCounts: between two counts the connections
// the caller holds move the estimate.
func TestReserveEstimatesBetweenCounts(t *testing.T) {
	open, err := CountOpen()
	if err != nil {
		t.Fatal(err)
	}
	r := NewReserve(open+50, 10, nil)
	if !r.Allow(0) { // counts now
		t.Fatal("refused with 40 to spare")
	}
	if !r.Allow(38) {
		t.Error("refused at 38 more held")
	}
	if r.Allow(40) {
		t.Error("allowed 40 more held within the count interval")
	}
}
