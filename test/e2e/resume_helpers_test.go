package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// restartDaemon starts `ars serve` again with exactly the configuration of
// d (same ports, root and state directory), as an operator or systemd
// would after d died or stopped.
func restartDaemon(t *testing.T, d *daemon) *daemon {
	t.Helper()
	return runDaemon(t, d.ars, d.root, httpPortOf(t, d), d.cmd.Env)
}

func httpPortOf(t *testing.T, d *daemon) int {
	t.Helper()
	u, err := url.Parse(d.base)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// seqSender sends numbered RTP packets on a participant's two SSRCs at a
// fixed rate from one socket, and remembers when it sent each: a loss
// across a restart is then counted by the sender's own sequence numbers.
type seqSender struct {
	conn       *net.UDPConn
	ssrcs      []uint32
	pts        []uint8
	interval   time.Duration
	mu         sync.Mutex
	sent       map[uint32][]time.Time // by SSRC, indexed by sequence number
	stop, done chan struct{}
}

func newSeqSender(t *testing.T, p participant, interval time.Duration) *seqSender {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.RTPPort})
	if err != nil {
		t.Fatal(err)
	}
	return &seqSender{conn: conn, ssrcs: []uint32{p.VideoSSRC, p.AudioSSRC}, pts: []uint8{96, 111}, interval: interval,
		sent: map[uint32][]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *seqSender) start() {
	go func() {
		defer close(s.done)
		payload := make([]byte, 160)
		tick := time.NewTicker(s.interval)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			for i, ssrc := range s.ssrcs {
				seq := uint16(len(s.sent[ssrc]))
				pkt := rtpPacket(s.pts[i], seq, uint32(seq)*960, ssrc, payload)
				at := time.Now()
				if _, err := s.conn.Write(pkt); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
					continue
				}
				s.sent[ssrc] = append(s.sent[ssrc], at)
			}
			s.mu.Unlock()
		}
	}()
}

func (s *seqSender) halt() {
	close(s.stop)
	<-s.done
	_ = s.conn.Close()
}

// missing reports, per SSRC, the send times of the packets no capture
// holds.
func (s *seqSender) missing(got map[uint32]map[uint16]bool) map[uint32][]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint32][]time.Time{}
	for ssrc, times := range s.sent {
		for seq, at := range times {
			if !got[ssrc][uint16(seq)] {
				out[ssrc] = append(out[ssrc], at)
			}
		}
	}
	return out
}

// captureSeqs reads every RTP record of the given captures: the sequence
// numbers found, by SSRC.
func captureSeqs(t *testing.T, paths ...string) map[uint32]map[uint16]bool {
	t.Helper()
	got := map[uint32]map[uint16]bool{}
	for _, path := range paths {
		r, err := storage.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, storage.ErrTornRecord) {
					t.Fatalf("%s: %v", path, err)
				}
				break
			}
			if rec.Kind != storage.RecordRTP || len(rec.Data) < 12 {
				continue
			}
			ssrc := uint32(rec.Data[8])<<24 | uint32(rec.Data[9])<<16 | uint32(rec.Data[10])<<8 | uint32(rec.Data[11])
			if got[ssrc] == nil {
				got[ssrc] = map[uint16]bool{}
			}
			got[ssrc][uint16(rec.Data[2])<<8|uint16(rec.Data[3])] = true
		}
		_ = r.Close()
	}
	return got
}

// waitHealthy waits for a restarted daemon's health answer and returns
// when it came.
func waitHealthy(ctx context.Context, d *daemon) time.Time {
	for ctx.Err() == nil {
		if d.healthy() {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Now()
}
