package state

// Backend stores opaque values by bucket and key. Put and Delete are
// durable when they return: a crash right after loses neither.
type Backend interface {
	Put(bucket, key string, val []byte) error
	Delete(bucket, key string) error
	// All returns a copy of every value of a bucket; an unknown bucket is
	// empty.
	All(bucket string) (map[string][]byte, error)
	Close() error
}
