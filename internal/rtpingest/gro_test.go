package rtpingest

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpbatch"
)

// sendGSO sends pkts, all but the last of one size, as one UDP GSO
// message: what a sender's back-to-back frame fragments look like to a
// receiver whose NIC merges them (GRO).
func sendGSO(t *testing.T, c *net.UDPConn, pkts [][]byte) {
	t.Helper()
	var payload []byte
	for _, p := range pkts {
		payload = append(payload, p...)
	}
	if err := udpbatch.WriteGSO(c, payload, len(pkts[0])); err != nil {
		t.Skipf("no UDP GSO here: %v", err)
	}
}

// Merged datagrams are recorded one by one, in order, exactly like
// separate ones.
func TestEngineRecordsMergedDatagrams(t *testing.T) {
	r := newRig(t, 10)
	if !r.engine.ports[0].gro {
		t.Skip("kernel without UDP_GRO")
	}
	conn := r.dial(t)
	seq := uint16(0)
	for frame := 0; frame < 20; frame++ {
		var pkts [][]byte
		for i := 0; i < 4; i++ {
			size := 1188
			if i == 3 {
				size = 200 + frame // the frame's last, shorter fragment
			}
			pkts = append(pkts, rtp(10, seq, size))
			seq++
		}
		sendGSO(t, conn, pkts)
	}
	waitCount(r.m.PacketsWritten, 80)
	if got := testutil.ToFloat64(r.m.PacketsReceived); got != 80 {
		t.Errorf("received %v, want 80", got)
	}
	rd := r.stopAndOpen(t)
	want := uint16(0)
	for {
		rec, err := rd.Next()
		if err != nil {
			break
		}
		if rec.Kind != storage.RecordRTP {
			continue
		}
		if got := uint16(rec.Data[2])<<8 | uint16(rec.Data[3]); got != want {
			t.Fatalf("record seq %d, want %d", got, want)
		}
		size := 12 + 1188
		if want%4 == 3 {
			size = 12 + 200 + int(want/4)
		}
		if len(rec.Data) != size {
			t.Fatalf("seq %d: %d bytes, want %d", want, len(rec.Data), size)
		}
		want++
	}
	if want != 80 {
		t.Fatalf("%d packets recorded, want 80", want)
	}
}

// A merged message that is not one stream's RTP (another SSRC inside, an
// unknown one, a damaged packet) is taken datagram by datagram, each
// counted as it would be alone.
func TestEngineMergedMixedFallsBack(t *testing.T) {
	r := newRig(t, 10, 11)
	if !r.engine.ports[0].gro {
		t.Skip("kernel without UDP_GRO")
	}
	conn := r.dial(t)
	bad := rtp(10, 3, 100)
	bad[0] = 0x40 // version 1
	sendGSO(t, conn, [][]byte{rtp(10, 0, 100), rtp(11, 0, 100), rtp(99, 0, 100), bad, rtp(10, 1, 100)})
	waitCount(r.m.PacketsReceived, 5)
	for name, c := range map[string]struct{ got, want float64 }{
		"received":  {testutil.ToFloat64(r.m.PacketsReceived), 5},
		"written":   {testutil.ToFloat64(r.m.PacketsWritten), 3},
		"unknown":   {testutil.ToFloat64(r.m.DropUnknownSSRC), 1},
		"malformed": {testutil.ToFloat64(r.m.DropMalformed), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s %v, want %v", name, c.got, c.want)
		}
	}
}

// FuzzMergedMessage feeds arbitrary merged messages to the engine: every
// datagram in one is counted exactly once, written or dropped.
func FuzzMergedMessage(f *testing.F) {
	r := newRig(f, 10)
	pt := r.engine.ports[0]
	frame := append(append(rtp(10, 1, 100), rtp(10, 2, 100)...), rtp(10, 3, 40)...)
	f.Add(frame, uint16(112))
	f.Add(append(rtp(10, 4, 100), rtp(11, 5, 100)...), uint16(112))
	f.Add([]byte{0x81, 203, 0, 1, 0, 0, 0, 10, 0x80, 96}, uint16(8))
	src := udpbatch.Addr{Family: 2, Port: 5000}
	f.Fuzz(func(t *testing.T, data []byte, seg uint16) {
		if len(data) == 0 {
			return
		}
		s := int(seg%2000) + 1
		var st batchStats
		r.engine.message(pt, data, false, s, src, time.Now(), &st)
		want := uint64((len(data) + s - 1) / s)
		if st.received != want {
			t.Fatalf("%d datagrams of %d bytes in %d: received %d", want, s, len(data), st.received)
		}
		dropped := st.oversize + st.malformed + st.unknown + st.wrongSource + st.notRec + st.failed + st.queueFull
		if st.written+dropped != want {
			t.Fatalf("%d datagrams: %d written, %d dropped (%+v)", want, st.written, dropped, st)
		}
	})
}
