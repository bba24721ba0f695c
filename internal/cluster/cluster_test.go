package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/redistest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fast heartbeats keep the tests short; the TTL is still several beats.
func testNode(t *testing.T, url, id string, opts ...Option) *Cluster {
	t.Helper()
	all := append([]Option{WithCPU(func() float64 { return 0 }), WithHeartbeat(100*time.Millisecond, 600*time.Millisecond), WithTimeout(300 * time.Millisecond),
		WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c := New(Config{RedisURL: url, Name: "t", NodeID: id, NodeAddress: "10.0.0." + id[len(id)-1:], APIPort: 8001, RTPPorts: "4001-4010"}, all...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func ids(ns []Node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.ID)
	}
	return strings.Join(s, ",")
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leakCheck(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		waitFor(t, 3*time.Second, "goroutines back to the start", func() bool { return runtime.NumGoroutine() <= before+2 })
	})
}

// TestRegistry: three nodes in one process see each other; a node whose
// heartbeat stops is dead after the TTL (the others hear of it) and the
// listing drops it.
func TestRegistry(t *testing.T) {
	leakCheck(t)
	srv := redistest.Start(t)
	var mu sync.Mutex
	var down []string
	a := testNode(t, srv.URL(), "n1", WithNodeDown(func(id string) { mu.Lock(); down = append(down, id); mu.Unlock() }))
	b := testNode(t, srv.URL(), "n2", WithCounts(func() Counts { return Counts{Channels: 3, Participants: 6, Composites: 1} }))
	c := New(Config{RedisURL: srv.URL(), Name: "t", NodeID: "n3", NodeAddress: "10.0.0.3"}, WithCPU(func() float64 { return 0 }),
		WithHeartbeat(100*time.Millisecond, 600*time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitFor(t, 2*time.Second, "three nodes listed", func() bool {
		ns, err := a.Nodes(ctx)
		return err == nil && ids(ns) == "n1,n2,n3"
	})
	// The shared store: what one node puts, another reads.
	if err := a.State().Put("resources", "r1", []byte(`{"owner":"n1"}`)); err != nil {
		t.Fatal(err)
	}
	if all, err := b.State().All("resources"); err != nil || string(all["r1"]) != `{"owner":"n1"}` {
		t.Fatalf("shared state: %q %v", all, err)
	}
	ns, _ := a.Nodes(ctx)
	if ns[1].Address != "10.0.0.2" || ns[1].Load.Channels != 3 || ns[1].Load.Participants != 6 || ns[1].Load.Composites != 1 || ns[1].Load.Cores < 1 {
		t.Fatalf("n2's record: %+v", ns[1])
	}
	// Beats refresh the record: it outlives several TTLs.
	time.Sleep(1500 * time.Millisecond)
	if ns, _ := b.Nodes(ctx); ids(ns) != "n1,n2,n3" {
		t.Fatalf("after 2.5 TTLs: %s", ids(ns))
	}
	// Stop n3's heartbeat without removing its record: as a kill -9.
	c.halt(ctx)
	defer c.rdb.Close()
	start := time.Now()
	waitFor(t, 2*time.Second, "n3 expired", func() bool {
		ns, err := b.Nodes(ctx)
		return err == nil && ids(ns) == "n1,n2"
	})
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("n3 dead after %v, before its TTL", el)
	}
	waitFor(t, time.Second, "n1 hears n3 died", func() bool { mu.Lock(); defer mu.Unlock(); return len(down) == 1 && down[0] == "n3" })
}

// TestPlacementSpreads: 30 channels claimed through random nodes go to the
// nodes by free capacity (the 2-core node takes most, none is left out),
// every channel has one owner, and when all are full the claim is refused
// with ErrAllFull and counted.
func TestPlacementSpreads(t *testing.T) {
	leakCheck(t)
	srv := redistest.Start(t)
	// A channel costs 0.1 core: the nodes hold 10, 10 and 20 channels.
	costs := Costs{Participant: 0.05, Composite: 0.2, Target: 1}
	m := metrics.New()
	nodes := []*Cluster{
		testNode(t, srv.URL(), "n1", WithCosts(costs), WithCores(1), WithMetrics(m)),
		testNode(t, srv.URL(), "n2", WithCosts(costs), WithCores(1)),
		testNode(t, srv.URL(), "n3", WithCosts(costs), WithCores(2)),
	}
	ctx := context.Background()
	waitFor(t, 2*time.Second, "three nodes", func() bool { ns, _ := nodes[0].Nodes(ctx); return len(ns) == 3 })
	per := map[string]int{}
	owners := map[string]string{}
	for i := range 30 {
		ch := fmt.Sprintf("ch%d", i)
		via := nodes[i%3]
		owner, mine, err := via.Claim(ctx, ch)
		if err != nil {
			t.Fatalf("claim %s: %v", ch, err)
		}
		if mine != (owner.ID == via.Self()) {
			t.Fatalf("mine=%v for owner %s via %s", mine, owner.ID, via.Self())
		}
		per[owner.ID]++
		owners[ch] = owner.ID
	}
	t.Logf("30 channels: %v", per)
	if per["n1"] < 5 || per["n2"] < 5 || per["n3"] < 14 || per["n3"] <= per["n1"] || per["n3"] <= per["n2"] {
		t.Fatalf("not spread by free capacity: %v", per)
	}
	// A claimed channel answers its owner through every node.
	for _, via := range nodes {
		owner, _, err := via.Claim(ctx, "ch7")
		if err != nil || owner.ID != owners["ch7"] {
			t.Fatalf("ch7 via %s: %s %v, want %s", via.Self(), owner.ID, err, owners["ch7"])
		}
	}
	// 40 fit; the 41st does not.
	for i := 30; i < 40; i++ {
		if _, _, err := nodes[i%3].Claim(ctx, fmt.Sprintf("ch%d", i)); err != nil {
			t.Fatalf("claim %d of 40: %v", i+1, err)
		}
	}
	if _, _, err := nodes[0].Claim(ctx, "one-too-many"); !errors.Is(err, ErrAllFull) {
		t.Fatalf("all full: %v", err)
	}
	if got := testutil.ToFloat64(m.ClusterClaims.WithLabelValues(metrics.ClaimFull)); got != 1 {
		t.Fatalf("ars_cluster_claims_total{result=full} = %v", got)
	}
	// A released channel frees its place.
	owner := owners["ch0"]
	var on *Cluster
	for _, n := range nodes {
		if n.Self() == owner {
			on = n
		}
	}
	if err := nodes[0].Release(ctx, "ch0"); owner != "n1" && !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release by a non-owner: %v", err)
	}
	if err := on.Release(ctx, "ch0"); err != nil && owner != "n1" {
		t.Fatal(err)
	}
	if o, _, err := nodes[1].Claim(ctx, "one-too-many"); err != nil || o.ID != owner {
		t.Fatalf("after a release: %s %v, want %s", o.ID, err, owner)
	}
}

// TestFullNodeNeverChosen: a node that reports itself full takes nothing.
func TestFullNodeNeverChosen(t *testing.T) {
	leakCheck(t)
	srv := redistest.Start(t)
	full := testNode(t, srv.URL(), "n1", WithLimits(2, 0), WithCounts(func() Counts { return Counts{Channels: 2, Participants: 4} }))
	other := testNode(t, srv.URL(), "n2")
	ctx := context.Background()
	waitFor(t, 2*time.Second, "two nodes", func() bool { ns, _ := full.Nodes(ctx); return len(ns) == 2 })
	for i := range 10 {
		o, mine, err := full.Claim(ctx, fmt.Sprint("c", i))
		if err != nil || o.ID != "n2" || mine {
			t.Fatalf("claim through the full node: %s %v %v", o.ID, mine, err)
		}
	}
	_ = other
}

// TestClaimExclusive: many goroutines on three nodes claim one channel at
// once: one owner, the same for all.
func TestClaimExclusive(t *testing.T) {
	leakCheck(t)
	srv := redistest.Start(t)
	nodes := []*Cluster{testNode(t, srv.URL(), "n1"), testNode(t, srv.URL(), "n2"), testNode(t, srv.URL(), "n3")}
	ctx := context.Background()
	waitFor(t, 2*time.Second, "three nodes", func() bool { ns, _ := nodes[0].Nodes(ctx); return len(ns) == 3 })
	for round := range 5 {
		ch := fmt.Sprint("race", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[string]int{}
		mines := 0
		for g := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, mine, err := nodes[g%3].Claim(ctx, ch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[o.ID]++
				if mine {
					mines++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(seen) != 1 || mines != 20 {
			t.Fatalf("round %d: owners %v, %d answers mine (want one owner, 20)", round, seen, mines)
		}
	}
}

// TestDeadOwnerReclaimed: a channel of a node that died goes to a live one.
func TestDeadOwnerReclaimed(t *testing.T) {
	leakCheck(t)
	srv := redistest.Start(t)
	a := testNode(t, srv.URL(), "n1", WithCores(8))
	b := testNode(t, srv.URL(), "n2", WithCores(1))
	ctx := context.Background()
	waitFor(t, 2*time.Second, "two nodes", func() bool { ns, _ := a.Nodes(ctx); return len(ns) == 2 })
	o, mine, err := a.Claim(ctx, "x")
	if err != nil || !mine || o.ID != "n1" {
		t.Fatalf("claim: %s %v %v", o.ID, mine, err)
	}
	a.halt(ctx)
	waitFor(t, 2*time.Second, "n1 expired", func() bool { ns, _ := b.Nodes(ctx); return len(ns) == 1 })
	o, mine, err = b.Claim(ctx, "x")
	if err != nil || !mine || o.ID != "n2" {
		t.Fatalf("re-claim of a dead owner's channel: %s %v %v", o.ID, mine, err)
	}
}

// TestRedisOutage: Redis killed for 10 s and started again empty: the
// nodes go on (Claim fails fast meanwhile), then register again and
// re-assert their channels, which answer the same owners as before.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s outage")
	}
	leakCheck(t)
	srv := redistest.Start(t)
	var buf syncBuf
	log := slog.New(slog.NewTextHandler(&buf, nil))
	m := metrics.New()
	runs := map[string][]string{"n1": {"live-a"}, "n2": {"live-b"}}
	a := testNode(t, srv.URL(), "n1", WithLocalChannels(func() []string { return runs["n1"] }), WithLogger(log), WithMetrics(m))
	b := testNode(t, srv.URL(), "n2", WithLocalChannels(func() []string { return runs["n2"] }))
	c := testNode(t, srv.URL(), "n3")
	ctx := context.Background()
	waitFor(t, 2*time.Second, "three nodes", func() bool { ns, _ := c.Nodes(ctx); return len(ns) == 3 })
	owners := map[string]string{}
	for i := range 9 {
		ch := fmt.Sprint("ch", i)
		// Placed through any node, then claimed by its owner (as the
		// call forwarded to it will): the owner knows its channels.
		o, _, err := []*Cluster{a, b, c}[i%3].Claim(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		owners[ch] = o.ID
		on := map[string]*Cluster{"n1": a, "n2": b, "n3": c}[o.ID]
		if o2, mine, err := on.Claim(ctx, ch); err != nil || !mine || o2.ID != o.ID {
			t.Fatalf("the owner's own claim: %s %v %v", o2.ID, mine, err)
		}
	}
	srv.Stop()
	start := time.Now()
	if _, _, err := c.Claim(ctx, "during"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("claim during the outage: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("a claim during the outage took %v", el)
	}
	waitFor(t, 2*time.Second, "redis down seen", func() bool { return testutil.ToFloat64(m.ClusterRedisUp) == 0 })
	time.Sleep(10*time.Second - time.Since(start))
	srv.Restart()
	waitFor(t, 3*time.Second, "three nodes back", func() bool { ns, _ := c.Nodes(ctx); return len(ns) == 3 })
	waitFor(t, 3*time.Second, "claims re-asserted", func() bool {
		for ch, want := range owners {
			o, _, err := c.Claim(ctx, ch)
			if err != nil || o.ID != want {
				return false
			}
		}
		for id, chs := range runs {
			for _, ch := range chs {
				if o, _, err := c.Claim(ctx, ch); err != nil || o.ID != id {
					return false
				}
			}
		}
		return true
	})
	if testutil.ToFloat64(m.ClusterResyncs) < 1 || testutil.ToFloat64(m.ClusterRedisUp) != 1 {
		t.Fatalf("resyncs %v, up %v", testutil.ToFloat64(m.ClusterResyncs), testutil.ToFloat64(m.ClusterRedisUp))
	}
	if !strings.Contains(buf.String(), "redis reachable again") {
		t.Fatalf("log:\n%s", buf.String())
	}
}

// TestPasswordRedacted: the password of ARS_CLUSTER_REDIS is in no log
// line and no error, at start, during an outage or for a bad URL.
func TestPasswordRedacted(t *testing.T) {
	leakCheck(t)
	const pw = "s3cr3t-Pa55"
	srv := redistest.Start(t)
	url := "redis://ars:" + pw + "@" + srv.Addr() + "/0"
	var buf syncBuf
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The server has no such user: AUTH fails, every beat errs.
	n := testNode(t, url, "n1", WithLogger(log))
	srv.Stop()
	_, _, err := n.Claim(context.Background(), "c")
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("claim error %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := n.Close(context.Background()); err != nil && strings.Contains(err.Error(), pw) {
		t.Fatalf("close error %v", err)
	}
	for _, bad := range []string{"redis://ars:" + pw + "@host:notaport/0", "http://ars:" + pw + "@h/0", "redis://ars:" + pw + "@h:1/x", "redis://ars:" + pw + "@[::1/0"} {
		if _, err := ParseURL(bad); err == nil || strings.Contains(err.Error(), pw) {
			t.Fatalf("ParseURL(%q) error: %v", bad, err)
		}
	}
	if got := RedactURL(url); strings.Contains(got, pw) || !strings.Contains(got, srv.Addr()) {
		t.Fatalf("RedactURL: %s", got)
	}
	if e := (redactedErr{err: errors.New("dial " + url + " failed: " + pw), rawURL: url}).Error(); strings.Contains(e, pw) {
		t.Fatalf("redacted: %s", e)
	}
	if !strings.Contains(buf.String(), "redis unreachable") || strings.Contains(buf.String(), pw) {
		t.Fatalf("log:\n%s", buf.String())
	}
}

// TestSingleNode: without a Redis URL nothing connects; the node lists
// itself and owns every channel while not full.
func TestSingleNode(t *testing.T) {
	c := New(Config{NodeID: "solo", NodeAddress: "192.0.2.1", APIPort: 8001}, WithCounts(func() Counts { return Counts{Channels: 1, Participants: 2} }))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ns, err := c.Nodes(context.Background())
	if err != nil || len(ns) != 1 || ns[0].ID != "solo" || ns[0].Address != "192.0.2.1" || ns[0].Load.Channels != 1 {
		t.Fatalf("nodes %+v %v", ns, err)
	}
	if o, mine, err := c.Claim(context.Background(), "x"); err != nil || !mine || o.ID != "solo" {
		t.Fatalf("claim %v %v %v", o, mine, err)
	}
	if c.Client() != nil || c.State() != nil {
		t.Fatal("a single node has a Redis client")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestCPUSampler: /proc/stat gives a share in 0..1 that rises while a
// core spins.
func TestCPUSampler(t *testing.T) {
	var s cpuSampler
	if s.sample() != 0 {
		t.Fatal("the first sample has no interval")
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	got := s.sample()
	close(stop)
	if got <= 0.2/float64(runtime.NumCPU()) || got > 1 {
		t.Fatalf("busy share %v with a spinning goroutine on %d cores", got, runtime.NumCPU())
	}
}

// TestCostModel: free capacity and fullness by the documented model.
func TestCostModel(t *testing.T) {
	for _, tc := range []struct {
		l    Load
		free float64
		full bool
	}{
		{Load{Cores: 2}, 1.4, false},
		{Load{Cores: 2, CPU: 0.5}, 0.4, false},                   // measured 1 core
		{Load{Cores: 2, Participants: 2000}, 0.4, false},         // modelled 1 core
		{Load{Cores: 2, Composites: 8}, 1.4 - 8*0.17, false},     // 8 composites
		{Load{Cores: 2, CPU: 0.7}, 0, true},                      // busy to the target
		{Load{Cores: 2, Channels: 5, MaxChannels: 5}, 1.4, true}, // channel limit
		{Load{Cores: 2, Participants: 9, MaxParticipants: 10}, 1.4 - 9*0.0005, true},
	} {
		l := tc.l
		l.compute(DefaultCosts)
		if d := l.Free - tc.free; d > 1e-9 || d < -1e-9 || l.Full != tc.full {
			t.Errorf("%+v: free %v full %v, want %v %v", tc.l, l.Free, l.Full, tc.free, tc.full)
		}
	}
}

func TestDefaultAddress(t *testing.T) {
	if got := DefaultAddress("203.0.113.7", "10.0.0.1"); got != "203.0.113.7" {
		t.Fatalf("public IP first: %s", got)
	}
	if got := DefaultAddress("", "127.0.0.1"); got != "127.0.0.1" {
		t.Fatalf("a specific bind address: %s", got)
	}
	got := DefaultAddress("", "")
	if a, err := netip.ParseAddr(got); err != nil || (a.IsLoopback() && got != "127.0.0.1") {
		t.Fatalf("interface address %q", got)
	}
}
