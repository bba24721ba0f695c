package state

import (
	"encoding/json"
	"fmt"
)

// Table is one bucket of typed records, encoded as JSON.
type Table[T any] struct {
	b      Backend
	bucket string
}

// NewTable gives typed access to one bucket of b.
func NewTable[T any](b Backend, bucket string) Table[T] {
	return Table[T]{b: b, bucket: bucket}
}

// Put stores v under key, durably.
func (t Table[T]) Put(key string, v T) error {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: encode %s/%s: %w", t.bucket, key, err)
	}
	return t.b.Put(t.bucket, key, js)
}

// Delete removes key; removing an absent key is no error.
func (t Table[T]) Delete(key string) error { return t.b.Delete(t.bucket, key) }

// All decodes every record of the table. A record that no longer decodes
// (written by another version, damaged) is reported in bad and left out,
// so that one bad record does not stop a resume.
func (t Table[T]) All() (recs map[string]T, bad map[string]error, err error) {
	raw, err := t.b.All(t.bucket)
	if err != nil {
		return nil, nil, err
	}
	recs = make(map[string]T, len(raw))
	for k, js := range raw {
		var v T
		if err := json.Unmarshal(js, &v); err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[k] = fmt.Errorf("state: decode %s/%s: %w", t.bucket, k, err)
			continue
		}
		recs[k] = v
	}
	return recs, bad, nil
}
