package state

import "sync"

// Memory is a Backend that forgets everything with the process: for
// tests, and for a daemon told not to keep state.
type Memory struct {
	mu      sync.Mutex
	closed  bool
	buckets map[string]map[string][]byte
}

// NewMemory makes an empty Memory backend.
func NewMemory() *Memory { return &Memory{buckets: map[string]map[string][]byte{}} }

// Put stores a copy of val.
func (m *Memory) Put(bucket, key string, val []byte) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	bk := m.buckets[bucket]
	if bk == nil {
		bk = map[string][]byte{}
		m.buckets[bucket] = bk
	}
	bk[key] = append([]byte(nil), val...)
	return nil
}

// Delete removes key.
func (m *Memory) Delete(bucket, key string) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.buckets[bucket], key)
	return nil
}

// All returns a copy of a bucket.
func (m *Memory) All(bucket string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make(map[string][]byte, len(m.buckets[bucket]))
	for k, v := range m.buckets[bucket] {
		out[k] = append([]byte(nil), v...)
	}
	return out, nil
}

// Close makes later calls fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
