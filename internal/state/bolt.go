package state

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's file in the state directory.
const FileName = "state.db"

// Bolt is the Backend on the local disk: one bbolt file, mode 0600 (it
// holds storage credentials), every commit fsync'd.
type Bolt struct {
	db *bolt.DB
}

// Open opens (or creates) dir/state.db. The directory is made 0700.
func Open(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// A second daemon on the same state directory would resume the same
	// recordings twice: the file lock refuses it after a short wait.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	// bbolt keeps the mode of an existing file: an older, wider one is
	// narrowed.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("state: %w", err)
	}
	return &Bolt{db: db}, nil
}

// Put stores val. Concurrent Puts share one commit (and one fsync).
func (b *Bolt) Put(bucket, key string, val []byte) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	return b.batch(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), val)
	})
}

// Delete removes key.
func (b *Bolt) Delete(bucket, key string) error {
	if bucket == "" || key == "" {
		return ErrBadName
	}
	return b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(key))
	})
}

func (b *Bolt) batch(f func(*bolt.Tx) error) error {
	err := b.db.Batch(f)
	if err == bolt.ErrDatabaseNotOpen {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// All returns a copy of a bucket.
func (b *Bolt) All(bucket string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err == bolt.ErrDatabaseNotOpen {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return out, nil
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }
