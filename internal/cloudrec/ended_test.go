package cloudrec

import (
	"strconv"
	"testing"
	"time"
)

// TestEndedSessionsBounded: the oldest ended sessions go first once more
// than maxEnded are kept.
func TestEndedSessionsBounded(t *testing.T) {
	s := &Service{ended: map[string]*endedSession{}}
	base := time.Unix(1_700_000_000, 0)
	for i := range maxEnded + 5 {
		s.ended["sid"+strconv.Itoa(i)] = &endedSession{at: base.Add(time.Duration(i) * time.Second)}
	}
	s.trimEndedLocked()
	if len(s.ended) != maxEnded {
		t.Fatalf("%d ended sessions kept, want %d", len(s.ended), maxEnded)
	}
	for i := range 5 {
		if s.ended["sid"+strconv.Itoa(i)] != nil {
			t.Errorf("sid%d (one of the oldest) kept", i)
		}
	}
	if s.ended["sid5"] == nil || s.ended["sid"+strconv.Itoa(maxEnded+4)] == nil {
		t.Error("a newer ended session was dropped")
	}
	s.trimEndedLocked()
	if len(s.ended) != maxEnded {
		t.Fatalf("second trim changed the count to %d", len(s.ended))
	}
}
