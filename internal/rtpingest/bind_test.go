package rtpingest

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
)

// TestBindThenServe: what arrives between Bind and Serve waits in the
// socket and is read once Serve starts (a restart attaches its resumed
// joins in between).
func TestBindThenServe(t *testing.T) {
	m := metrics.New()
	e := New("127.0.0.1", 0, 0, WithMetrics(m), WithLogger(slog.New(slog.DiscardHandler)))
	if err := e.Bind(); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: e.Ports()[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 50 {
		if _, err := conn.Write(rtp(7, uint16(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := testutil.ToFloat64(m.PacketsReceived); got != 0 {
		t.Fatalf("%v packets read before Serve", got)
	}
	e.Serve()
	waitCount(m.PacketsReceived, 50)
	if got := testutil.ToFloat64(m.PacketsReceived); got != 50 {
		t.Fatalf("read %v of the 50 packets queued before Serve", got)
	}
}
