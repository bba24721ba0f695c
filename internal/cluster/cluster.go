package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/state"
	"github.com/redis/go-redis/v9"
)

// Config is what identifies a node.
type Config struct {
	// RedisURL is ARS_CLUSTER_REDIS; empty: a single node, no Redis.
	RedisURL string
	// Name is ARS_CLUSTER_NAME, the prefix of every key.
	Name string
	// NodeID is ARS_NODE_ID, NodeAddress ARS_NODE_ADDRESS.
	NodeID      string
	NodeAddress string
	APIPort     int
	RTPPorts    string
	WebRTCPort  int
}

// Node is one node's record, as its heartbeat writes it.
type Node struct {
	ID         string    `json:"id"`
	Address    string    `json:"address"`
	APIPort    int       `json:"apiPort"`
	RTPPorts   string    `json:"rtpPorts"`
	WebRTCPort int       `json:"webrtcPort,omitempty"`
	Version    string    `json:"version"`
	Started    time.Time `json:"started"`
	Load       Load      `json:"load"`
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithLogger sets the logger (component=cluster is added).
func WithLogger(l *slog.Logger) Option { return func(c *Cluster) { c.log = l } }

// WithMetrics sets the instruments.
func WithMetrics(m *metrics.Metrics) Option { return func(c *Cluster) { c.m = m } }

// WithCounts reports what the node runs (the session manager's counts).
func WithCounts(f func() Counts) Option { return func(c *Cluster) { c.counts = f } }

// WithLocalChannels names the channels the node runs, re-asserted as its
// own when Redis comes back empty.
func WithLocalChannels(f func() []string) Option { return func(c *Cluster) { c.localChannels = f } }

// WithLimits are the daemon's channel and participant limits (0: none).
func WithLimits(maxChannels, maxParticipants int) Option {
	return func(c *Cluster) { c.maxChannels, c.maxParticipants = maxChannels, maxParticipants }
}

// WithCosts replaces the cost model.
func WithCosts(k Costs) Option { return func(c *Cluster) { c.costs = k } }

// WithCores replaces the core count (tests; a node given a CPU quota).
func WithCores(n int) Option { return func(c *Cluster) { c.cores = n } }

// WithHeartbeat sets how often the record is written and how long it
// lives without a new write (the time to declare a node dead).
func WithHeartbeat(every, ttl time.Duration) Option {
	return func(c *Cluster) { c.every, c.ttl = every, ttl }
}

// WithTimeout bounds every Redis call.
func WithTimeout(d time.Duration) Option { return func(c *Cluster) { c.timeout = d } }

// WithCPU replaces the CPU measurement (the machine's busy share, 0..1,
// since the last call): tests pin it, since a shared box's load would
// make placement depend on whatever else runs.
func WithCPU(f func() float64) Option { return func(c *Cluster) { c.cpuShare = f } }

// WithVersion is the node's version in its record.
func WithVersion(v string) Option { return func(c *Cluster) { c.version = v } }

// WithNodeDown is called (from the heartbeat goroutine; it must not
// block) with the ID of a node this node saw live and then dead: the hook
// of the fail-over to come.
func WithNodeDown(f func(id string)) Option { return func(c *Cluster) { c.nodeDown = f } }

// Cluster is this node's membership of the cluster.
type Cluster struct {
	cfg             Config
	log             *slog.Logger
	m               *metrics.Metrics
	counts          func() Counts
	localChannels   func() []string
	maxChannels     int
	maxParticipants int
	costs           Costs
	cores           int
	every, ttl      time.Duration
	timeout         time.Duration
	version         string
	nodeDown        func(id string)
	started         time.Time
	cpu             cpuSampler
	cpuShare        func() float64

	rdb *redis.Client

	mu sync.Mutex
	// owned are the channels this node owns to its knowledge, re-asserted
	// when Redis lost them.
	owned map[string]struct{}
	// live is the set of nodes the last heartbeat saw.
	live map[string]bool
	// up is whether the last heartbeat reached Redis.
	up bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// New makes the node's membership; nothing connects before Start.
func New(cfg Config, opts ...Option) *Cluster {
	c := &Cluster{cfg: cfg, log: slog.Default(), costs: DefaultCosts, cores: runtime.NumCPU(),
		every: time.Second, ttl: 5 * time.Second, timeout: 500 * time.Millisecond, version: "dev",
		counts: func() Counts { return Counts{} }, localChannels: func() []string { return nil },
		started: time.Now().UTC(), owned: map[string]struct{}{}, live: map[string]bool{}}
	c.cpuShare = c.cpu.sample
	for _, o := range opts {
		o(c)
	}
	if c.cfg.Name == "" {
		c.cfg.Name = "ars"
	}
	if c.m == nil {
		c.m = metrics.New()
	}
	c.log = c.log.With("component", "cluster")
	return c
}

// Enabled reports whether the node is in a cluster (a Redis URL is set).
func (c *Cluster) Enabled() bool { return c.cfg.RedisURL != "" }

// Address is this node's ARS_NODE_ADDRESS.
func (c *Cluster) Address() string { return c.cfg.NodeAddress }

// Self is this node's ID.
func (c *Cluster) Self() string { return c.cfg.NodeID }

func (c *Cluster) nodeKey(id string) string  { return c.cfg.Name + ":node:" + id }
func (c *Cluster) nodesKey() string          { return c.cfg.Name + ":nodes" }
func (c *Cluster) chanKey(ch string) string  { return c.cfg.Name + ":chan:" + ch }
func (c *Cluster) ownedKey(id string) string { return c.cfg.Name + ":owned:" + id }
func (c *Cluster) nodePrefix() string        { return c.cfg.Name + ":node:" }
func (c *Cluster) ownedPrefix() string       { return c.cfg.Name + ":owned:" }
func (c *Cluster) wrap(err error) error      { return fmt.Errorf("%w: %w", ErrUnavailable, c.redact(err)) }
func (c *Cluster) redact(err error) error    { return redactedErr{err: err, rawURL: c.cfg.RedisURL} }
func (c *Cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// Start connects to Redis (when set), registers the node and starts the
// heartbeat. Redis unreachable at start is no error: the node runs and
// registers when Redis answers, as after an outage.
func (c *Cluster) Start() error {
	if !c.Enabled() {
		return nil
	}
	opts, err := ParseURL(c.cfg.RedisURL)
	if err != nil {
		return err
	}
	// Fail fast: a stalled Redis must cost a call its timeout, not a
	// retry loop.
	opts.MaxRetries = -1
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = c.timeout, c.timeout, c.timeout
	opts.PoolSize = 8
	// go-redis logs dial failures through a package-wide logger, to
	// stderr and once per attempt: they go to this node's log at debug
	// level instead (the heartbeat reports an outage once, at warn),
	// with the password redacted.
	redis.SetLogger(redisLog{log: c.log, rawURL: c.cfg.RedisURL})
	c.rdb = redis.NewClient(opts)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	c.beat(true)
	go c.loop()
	c.log.Info("cluster node started", "redis", RedactURL(c.cfg.RedisURL), "cluster", c.cfg.Name, "node", c.cfg.NodeID,
		"address", c.cfg.NodeAddress, "heartbeat", c.every, "ttl", c.ttl)
	return nil
}

// Close stops the heartbeat and removes the node's record so that the
// others see it gone at once; its channel claims are left (a node that
// stops is dead for them, and its channels may be claimed again).
func (c *Cluster) Close(ctx context.Context) error {
	if c.rdb == nil {
		return nil
	}
	c.halt(ctx)
	cctx, cancel := c.ctx()
	defer cancel()
	if err := c.rdb.Del(cctx, c.nodeKey(c.cfg.NodeID)).Err(); err != nil {
		c.log.Warn("cluster: could not remove the node's record (it expires by itself)", "err", c.redact(err))
	}
	return c.rdb.Close()
}

// redisLog is go-redis's logger on slog.
type redisLog struct {
	log    *slog.Logger
	rawURL string
}

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis: " + Redact(l.rawURL, fmt.Sprintf(format, v...)))
}

// halt stops the heartbeat, leaving the record to expire (as a kill -9
// would: tests of expiry use it alone).
func (c *Cluster) halt(ctx context.Context) {
	c.stopOnce.Do(func() { close(c.stop) })
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

func (c *Cluster) loop() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.beat(false)
		}
	}
}

// record is this node's record now.
func (c *Cluster) record() Node {
	n := c.counts()
	l := Load{CPU: c.cpuShare(), Cores: c.cores, Channels: n.Channels, Participants: n.Participants, Composites: n.Composites,
		MaxChannels: c.maxChannels, MaxParticipants: c.maxParticipants}
	l.compute(c.costs)
	return Node{ID: c.cfg.NodeID, Address: c.cfg.NodeAddress, APIPort: c.cfg.APIPort, RTPPorts: c.cfg.RTPPorts,
		WebRTCPort: c.cfg.WebRTCPort, Version: c.version, Started: c.started, Load: l}
}

// heartbeatScript writes the record with a server-side TTL (so no clock
// of a node matters), keeps the node in the members set scored by the
// server's clock (members silent for 10 minutes are dropped), and says
// whether the record was there before: when it was not, Redis lost it
// (restart, expiry during an outage) and the node re-asserts its claims.
var heartbeatScript = redis.NewScript(`
local had = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 600)
return had
`)

// beat writes the heartbeat, re-asserts claims when Redis lost them and
// looks for nodes that died.
func (c *Cluster) beat(first bool) {
	rec, _ := json.Marshal(c.record())
	ctx, cancel := c.ctx()
	had, err := heartbeatScript.Run(ctx, c.rdb, []string{c.nodeKey(c.cfg.NodeID), c.nodesKey()},
		rec, c.ttl.Milliseconds(), c.cfg.NodeID).Int()
	cancel()
	c.mu.Lock()
	wasUp := c.up
	c.up = err == nil
	c.mu.Unlock()
	if err != nil {
		c.m.ClusterRedisUp.Set(0)
		c.m.ClusterHeartbeatFailures.Inc()
		if wasUp || first {
			c.log.Warn("cluster: redis unreachable; what runs goes on, new placements wait", "redis", RedactURL(c.cfg.RedisURL), "err", c.redact(err))
		}
		return
	}
	c.m.ClusterRedisUp.Set(1)
	if !wasUp && !first {
		c.log.Info("cluster: redis reachable again", "redis", RedactURL(c.cfg.RedisURL))
	}
	if had == 0 || !wasUp {
		if !first {
			c.m.ClusterResyncs.Inc()
		}
		c.reassert()
	}
	c.watch()
}

// reassertScript makes the channel this node's unless another live node
// owns it.
var reassertScript = redis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return owner
end
redis.call('SET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[1] then redis.call('SREM', ARGV[3] .. owner, ARGV[4]) end
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
return ARGV[1]
`)

func (c *Cluster) reassert() {
	set := map[string]struct{}{}
	c.mu.Lock()
	for ch := range c.owned {
		set[ch] = struct{}{}
	}
	c.mu.Unlock()
	for _, ch := range c.localChannels() {
		set[ch] = struct{}{}
	}
	n := 0
	for ch := range set {
		ctx, cancel := c.ctx()
		owner, err := reassertScript.Run(ctx, c.rdb, []string{c.chanKey(ch)}, c.cfg.NodeID, c.nodePrefix(), c.ownedPrefix(), ch).Text()
		cancel()
		switch {
		case err != nil:
			c.log.Warn("cluster: re-asserting a channel failed (tried again at the next heartbeat)", "channel", ch, "err", c.redact(err))
			c.mu.Lock()
			c.up = false // the next beat tries the whole set again
			c.mu.Unlock()
			return
		case owner != c.cfg.NodeID:
			// Another node took the channel while Redis had lost ours:
			// what runs here goes on; the two owners are reported.
			c.m.ClusterClaimConflicts.Inc()
			c.log.Warn("cluster: a channel this node runs is owned by another live node", "channel", ch, "owner", owner)
			c.mu.Lock()
			delete(c.owned, ch)
			c.mu.Unlock()
		default:
			n++
			c.mu.Lock()
			c.owned[ch] = struct{}{}
			c.mu.Unlock()
		}
	}
	if n > 0 {
		c.log.Info("cluster: registered and re-asserted channels", "channels", n)
	}
}

// watch lists the live nodes and reports those that died since the last
// heartbeat.
func (c *Cluster) watch() {
	ctx, cancel := c.ctx()
	defer cancel()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return
	}
	now := map[string]bool{}
	for _, n := range nodes {
		now[n.ID] = true
	}
	c.mu.Lock()
	var down []string
	for id := range c.live {
		if !now[id] {
			down = append(down, id)
		}
	}
	c.live = now
	c.mu.Unlock()
	c.m.ClusterNodes.Set(float64(len(nodes)))
	sort.Strings(down)
	for _, id := range down {
		c.m.ClusterNodesDown.Inc()
		c.log.Warn("cluster: node dead (heartbeat expired)", "node", id)
		if c.nodeDown != nil {
			c.nodeDown(id)
		}
	}
}

// Nodes lists the live nodes, sorted by ID. On a single node it is that
// node alone.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	if c.rdb == nil {
		return []Node{c.record()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ids, err := c.rdb.ZRange(ctx, c.nodesKey(), 0, -1).Result()
	if err != nil {
		return nil, c.wrap(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.nodeKey(id)
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, c.wrap(err)
	}
	out := make([]Node, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired: dead
		}
		var n Node
		if json.Unmarshal([]byte(s), &n) == nil && n.ID != "" {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// claimScript gives the channel to ARGV[1] unless a live node owns it,
// and answers the owner. ARGV[1] must be live itself, else "" (the
// caller chooses again).
var claimScript = redis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return owner
end
if redis.call('EXISTS', ARGV[2] .. ARGV[1]) == 0 then
  return ''
end
redis.call('SET', KEYS[1], ARGV[1])
if owner then redis.call('SREM', ARGV[3] .. owner, ARGV[4]) end
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
return ARGV[1]
`)

// Claim answers the owner of channel, placing a new channel (or one
// whose owner died) on the live node with the most free capacity; mine
// is whether that is this node. ErrAllFull when every node is full,
// ErrUnavailable when Redis fails (the call waits at most the timeout).
func (c *Cluster) Claim(ctx context.Context, channel string) (owner Node, mine bool, err error) {
	if c.rdb == nil {
		self := c.record()
		if self.Load.Full {
			c.m.ClusterClaims.WithLabelValues(metrics.ClaimFull).Inc()
			return Node{}, false, ErrAllFull
		}
		return self, true, nil
	}
	owner, mine, err = c.claim(ctx, channel)
	switch {
	case errors.Is(err, ErrAllFull):
		c.m.ClusterClaims.WithLabelValues(metrics.ClaimFull).Inc()
	case err != nil:
		c.m.ClusterClaims.WithLabelValues(metrics.ClaimError).Inc()
	}
	if mine {
		c.mu.Lock()
		c.owned[channel] = struct{}{}
		c.mu.Unlock()
	}
	return owner, mine, err
}

func (c *Cluster) claim(ctx context.Context, channel string) (Node, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Two tries: the chosen node may die between the listing and the
	// script.
	for range 2 {
		nodes, err := c.Nodes(ctx)
		if err != nil {
			return Node{}, false, err
		}
		byID := make(map[string]Node, len(nodes))
		for _, n := range nodes {
			byID[n.ID] = n
		}
		// The fast path: a live owner answers without a placement.
		cur, err := c.rdb.Get(ctx, c.chanKey(channel)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return Node{}, false, c.wrap(err)
		}
		if n, ok := byID[cur]; ok {
			c.m.ClusterClaims.WithLabelValues(metrics.ClaimExisting).Inc()
			return n, n.ID == c.cfg.NodeID, nil
		}
		best, err := c.place(ctx, nodes)
		if err != nil {
			return Node{}, false, err
		}
		got, err := claimScript.Run(ctx, c.rdb, []string{c.chanKey(channel)}, best.ID, c.nodePrefix(), c.ownedPrefix(), channel).Text()
		if err != nil {
			return Node{}, false, c.wrap(err)
		}
		if got == "" {
			continue
		}
		n, ok := byID[got]
		if !ok {
			// Owned by a node that registered after the listing.
			n = Node{ID: got}
		}
		if got == best.ID {
			c.m.ClusterClaims.WithLabelValues(metrics.ClaimPlaced).Inc()
		} else {
			c.m.ClusterClaims.WithLabelValues(metrics.ClaimExisting).Inc()
		}
		return n, got == c.cfg.NodeID, nil
	}
	return Node{}, false, fmt.Errorf("%w: the chosen node died during placement", ErrUnavailable)
}

// place picks the live node with the most free capacity, counting the
// channels placed on it that its last heartbeat did not report yet at
// the cost of a two-person channel each (so that a burst of claims
// spreads before the next heartbeats).
func (c *Cluster) place(ctx context.Context, nodes []Node) (Node, error) {
	if len(nodes) == 0 {
		return Node{}, ErrAllFull
	}
	pipe := c.rdb.Pipeline()
	cards := make([]*redis.IntCmd, len(nodes))
	for i, n := range nodes {
		cards[i] = pipe.SCard(ctx, c.ownedKey(n.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Node{}, c.wrap(err)
	}
	var best Node
	bestFree, found := 0.0, false
	for i, n := range nodes {
		l := n.Load
		if l.Full {
			continue
		}
		pending := max(0, int(cards[i].Val())-l.Channels)
		free := l.Free - float64(pending)*c.costs.channelCost()
		if free < c.costs.channelCost()-1e-9 {
			continue
		}
		if l.MaxChannels > 0 && l.Channels+pending >= l.MaxChannels {
			continue
		}
		if !found || free > bestFree+1e-12 {
			best, bestFree, found = n, free, true
		}
	}
	if !found {
		return Node{}, ErrAllFull
	}
	return best, nil
}

// Release gives up this node's ownership of channel (it ended).
func (c *Cluster) Release(ctx context.Context, channel string) error {
	c.mu.Lock()
	delete(c.owned, channel)
	c.mu.Unlock()
	if c.rdb == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := releaseScript.Run(ctx, c.rdb, []string{c.chanKey(channel), c.ownedKey(c.cfg.NodeID)}, c.cfg.NodeID, channel).Int()
	if err != nil {
		return c.wrap(err)
	}
	if n == 0 {
		return ErrNotOwner
	}
	return nil
}

var releaseScript = redis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// State is the cluster's shared store on its Redis (keys under
// <cluster>:state:), for the tables every node must see (cloud recording
// resource IDs and sids to their owner); nil on a single node or before
// Start. It shares the node's client: closing it leaves the client open.
func (c *Cluster) State() state.Backend {
	if c.rdb == nil {
		return nil
	}
	return state.NewRedis(c.rdb, c.cfg.Name, 4*c.timeout)
}

// Client is the Redis client (nil on a single node), for the state
// backend of the cluster's shared tables.
func (c *Cluster) Client() *redis.Client { return c.rdb }
