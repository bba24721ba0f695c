package aacenc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/testmedia"
)

// TestChildSIGTERM speaks the protocol to ars-mixer --audio-transcoder
// directly: two streams, then SIGTERM with the input still open. The
// first SIGTERM flushes every stream (each answers Closed after its last
// unit), reports Done and exits 0.
func TestChildSIGTERM(t *testing.T) {
	pkts := testmedia.OpusPackets(t, "sine=f=440:d=2:sample_rate=48000", 2)[:100]
	cmd := exec.Command(binary(t), "--audio-transcoder")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	w := mixproto.NewWriter(stdin)
	for id := uint32(1); id <= 2; id++ {
		if err := w.WriteJSON(mixproto.TypeAACOpen, mixproto.AACOpen{ID: id, InputChannels: 2, Rate: 48000, Channels: int(id), BitrateKbps: 64}); err != nil {
			t.Fatal(err)
		}
	}
	// A repeated open and a packet of an unknown stream: refused, the
	// process goes on.
	_ = w.WriteJSON(mixproto.TypeAACOpen, mixproto.AACOpen{ID: 1, InputChannels: 2, Rate: 48000, Channels: 1, BitrateKbps: 64})
	_ = w.WriteMedia(mixproto.TypeAACOpus, mixproto.Media{Source: 99, Data: pkts[0]})
	for i, p := range pkts {
		for id := uint32(1); id <= 2; id++ {
			if err := w.WriteMedia(mixproto.TypeAACOpus, mixproto.Media{Source: id, PTS: int64(i) * 20e6, Data: p}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := mixproto.NewReader(stdout)
	units := map[uint32]int64{}
	closed := map[uint32]int64{}
	errs := 0
	done := false
	signalled := false
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for {
		f, err := r.ReadFrame()
		if err != nil {
			break
		}
		switch f.Type {
		case mixproto.TypeAACUnit:
			u, err := mixproto.ParseAACUnit(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := closed[u.ID]; ok {
				t.Fatalf("a unit of stream %d after its Closed", u.ID)
			}
			units[u.ID]++
			// Half the input encoded: stop it.
			if !signalled && u.PTS > 500e6 {
				signalled = true
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
		case mixproto.TypeAACClosed:
			var c mixproto.AACClosed
			if err := mixproto.Decode(f.Body, &c); err != nil {
				t.Fatal(err)
			}
			closed[c.ID] = c.Units
		case mixproto.TypeAACError:
			errs++
		case mixproto.TypeDone:
			done = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !signalled || !done || errs != 1 {
		t.Fatalf("signalled %v, done %v, %d errors (want the repeated open's)", signalled, done, errs)
	}
	for id := uint32(1); id <= 2; id++ {
		// Up to the 2 s of input (95 units with the priming and the last
		// one's padding), at least what came before the signal.
		if closed[id] != units[id] || units[id] < 24 || units[id] > 95 {
			t.Fatalf("stream %d: %d units, Closed says %d (want 24..95)", id, units[id], closed[id])
		}
	}
}
