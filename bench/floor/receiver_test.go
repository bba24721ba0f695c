package floor

import (
	"net"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/udpbatch"
)

func TestReceiverCounts(t *testing.T) {
	cases := []struct {
		name    string
		ports   int
		packets int
		size    int
		gro     bool
	}{
		{"one port", 1, 500, 200, false},
		{"three ports", 3, 900, 1200, false},
		{"gro, merged sends", 2, 960, 1200, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ports := make([]int, tc.ports) // 0: the kernel picks
			r, err := Listen("127.0.0.1", ports, 8<<20, 32, tc.gro)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := r.Ports()
			buf := make([]byte, tc.size)
			if tc.gro {
				// Eight datagrams a message: counted as eight.
				for i := range tc.packets / 8 {
					tx, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: got[i%len(got)]})
					if err != nil {
						t.Fatal(err)
					}
					if err := udpbatch.WriteGSO(tx, make([]byte, 8*tc.size), tc.size); err != nil {
						t.Skipf("no UDP GSO here: %v", err)
					}
					tx.Close()
				}
			}
			for i := range tc.packets {
				if tc.gro {
					break
				}
				dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: got[i%len(got)]}
				if _, err := c.WriteToUDP(buf, dst); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for r.Counts().Packets < uint64(tc.packets) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cnt := r.Counts()
			if cnt.Packets != uint64(tc.packets) || cnt.Bytes != uint64(tc.packets*tc.size) {
				t.Fatalf("counted %+v, want %d packets of %d bytes", cnt, tc.packets, tc.size)
			}
			if cnt.Reads == 0 || cnt.Reads > cnt.Packets {
				t.Fatalf("reads %d for %d packets", cnt.Reads, cnt.Packets)
			}
		})
	}
	if _, err := Listen("127.0.0.1", nil, 1<<20, 8, false); err != ErrNoPorts {
		t.Fatalf("no ports: err %v", err)
	}
}
