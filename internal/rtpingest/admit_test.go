package rtpingest

import (
	"testing"

	"github.com/ars-project/ars/internal/udpbatch"
)

func TestAdmitPinsHostAndRTCP(t *testing.T) {
	host := func(last byte, port uint16) udpbatch.Addr {
		a := udpbatch.Addr{Family: 2, Port: port}
		a.IP[0], a.IP[3] = 10, last
		return a
	}
	sender, sender2, other := host(1, 5000), host(1, 5001), host(2, 5000)
	type step struct {
		route int // 0: video, 1: audio of the same participant
		rtcp  bool
		src   udpbatch.Addr
		want  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first rtp pins, others refused", []step{{0, false, sender, true}, {0, false, other, false}, {0, false, sender2, false}, {0, false, sender, true}}},
		{"rtcp first pins the host", []step{{0, true, sender2, true}, {0, false, other, false}, {0, false, sender, true}, {0, true, sender, false}, {0, true, sender2, true}}},
		{"rtcp from another host refused", []step{{0, false, sender, true}, {0, true, other, false}, {0, true, sender2, true}}},
		{"second stream must come from the same host", []step{{0, false, sender, true}, {1, false, other, false}, {1, false, sender2, true}}},
		{"rtcp of a second stream from another host refused", []step{{0, false, sender, true}, {1, true, other, false}, {1, true, sender2, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hostPin{}
			routes := []*route{{host: h}, {host: h}}
			for i, s := range tt.steps {
				if got := routes[s.route].admit(s.rtcp, s.src); got != s.want {
					t.Fatalf("step %d %+v: admit = %v", i, s, got)
				}
			}
		})
	}
}
