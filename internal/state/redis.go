package state

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Backend shared by the nodes of a cluster: one Redis hash
// per bucket, named prefix + ":state:" + bucket. Durability is Redis's:
// a Put is on the server when it returns, and on its disk as the
// server's appendonly/save settings say (docs/cluster.md asks for
// appendonly with fsync everysec, or a managed Redis).
type Redis struct {
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
	closed  atomic.Bool
}

// NewRedis keeps the tables of prefix in c. Every call is bounded by
// timeout (a stalled Redis fails the call, it never hangs the caller).
// Close does not close c: the client belongs to whoever made it.
func NewRedis(c redis.UniversalClient, prefix string, timeout time.Duration) *Redis {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Redis{c: c, prefix: prefix, timeout: timeout}
}

func (r *Redis) key(bucket string) string { return r.prefix + ":state:" + bucket }

func (r *Redis) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.timeout)
}

// Put stores val.
func (r *Redis) Put(bucket, key string, val []byte) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	if r.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := r.ctx()
	defer cancel()
	return r.wrap(r.c.HSet(ctx, r.key(bucket), key, val).Err())
}

// Delete removes key.
func (r *Redis) Delete(bucket, key string) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	if r.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := r.ctx()
	defer cancel()
	return r.wrap(r.c.HDel(ctx, r.key(bucket), key).Err())
}

// All returns a copy of a bucket.
func (r *Redis) All(bucket string) (map[string][]byte, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := r.ctx()
	defer cancel()
	m, err := r.c.HGetAll(ctx, r.key(bucket)).Result()
	if err != nil {
		return nil, r.wrap(err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}

// Close makes later calls fail.
func (r *Redis) Close() error {
	r.closed.Store(true)
	return nil
}

func (r *Redis) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	default:
		return fmt.Errorf("state: redis: %w", err)
	}
}
