package rtpingest

import (
	"net/netip"
	"testing"
	"time"

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
			e := &Engine{rebindAfter: time.Second, kick: make(chan *route, 8)}
			var st batchStats
			for i, s := range tt.steps {
				if got := e.admit(routes[s.route], s.rtcp, s.src, time.Now(), &st); got != s.want {
					t.Fatalf("step %d %+v: admit = %v", i, s, got)
				}
			}
		})
	}
}

// A pinned stream moves to a new port of the same IP only after its old
// source was silent for rebindAfter; RTCP and the feedback address follow.
func TestAdmitRebindsAfterSilence(t *testing.T) {
	host := func(last byte, port uint16) udpbatch.Addr {
		a := udpbatch.Addr{Family: 2, Port: port>>8 | port<<8} // network byte order
		a.IP[0], a.IP[3] = 127, last
		return a
	}
	a, aRTCP, b, bRTCP, stranger := host(1, 5000), host(1, 5001), host(1, 6000), host(1, 6001), host(2, 6000)
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	e := &Engine{rebindAfter: time.Second, kick: make(chan *route, 8)}
	r := &route{host: &hostPin{}}
	var st batchStats
	steps := []struct {
		rtcp bool
		src  udpbatch.Addr
		ms   int
		want bool
	}{
		{false, a, 0, true},
		{true, aRTCP, 10, true},
		{false, b, 500, false},         // the old port still speaks: a second sender
		{false, a, 600, true},          // ...
		{false, b, 1500, false},        // silent 0.9 s only
		{false, stranger, 2700, false}, // another IP never takes it
		{false, b, 2700, true},         // silent 2.1 s: rebound
		{false, a, 2800, false},        // the old port is now the stranger
		{true, bRTCP, 2900, true},      // RTCP follows: re-pins on the new host's next RTCP
		{true, aRTCP, 3000, false},
	}
	for i, s := range steps {
		if got := e.admit(r, s.rtcp, s.src, at(s.ms), &st); got != s.want {
			t.Fatalf("step %d %+v: admit = %v", i, s, got)
		}
	}
	if st.rebinds != 1 {
		t.Fatalf("rebinds %d, want 1", st.rebinds)
	}
	if fb := r.feedback.Load(); fb == nil || fb.Port != 6001 {
		t.Fatalf("feedback %v, want the new RTCP port", fb)
	}
	off := &Engine{kick: make(chan *route, 8)} // rebindAfter 0: pinned for good
	r2 := &route{host: &hostPin{}}
	_ = off.admit(r2, false, a, at(0), &st)
	if off.admit(r2, false, b, at(60000), &st) {
		t.Fatal("rebound with rebinding off")
	}
}

// A stream bound to an IP refuses every other source, first or not.
func TestAdmitBoundSource(t *testing.T) {
	e := &Engine{kick: make(chan *route, 8)}
	r := &route{host: &hostPin{}, bound: netip.MustParseAddr("127.0.0.2")}
	var st batchStats
	other := udpbatch.Addr{Family: 2, Port: 5000, IP: [16]byte{127, 0, 0, 3}}
	mine := udpbatch.Addr{Family: 2, Port: 5000, IP: [16]byte{127, 0, 0, 2}}
	mapped := udpbatch.Addr{Family: 10, Port: 5002, IP: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 2}}
	if e.admit(r, false, other, time.Now(), &st) {
		t.Fatal("a foreign first sender took the bound stream")
	}
	if !e.admit(r, false, mine, time.Now(), &st) {
		t.Fatal("the bound sender refused")
	}
	r2 := &route{host: &hostPin{}, bound: netip.MustParseAddr("127.0.0.2")}
	if !e.admit(r2, true, mapped, time.Now(), &st) {
		t.Fatal("the bound sender refused on a dual-stack socket")
	}
}

// OnHostPinned hears the host once, at the first packet of any of the
// participant's streams, whatever comes after.
func TestAdmitTellsPinOnce(t *testing.T) {
	var got []netip.Addr
	h := &hostPin{onPin: func(ip netip.Addr) { got = append(got, ip) }}
	routes := []*route{{host: h}, {host: h}}
	e := &Engine{rebindAfter: time.Second, kick: make(chan *route, 8)}
	var st batchStats
	src := udpbatch.Addr{Family: 2, Port: 5000}
	src.IP[0], src.IP[3] = 10, 7
	other := src
	other.IP[3] = 8
	e.admit(routes[0], false, src, time.Now(), &st)
	e.admit(routes[1], false, src, time.Now(), &st)
	e.admit(routes[0], true, src, time.Now(), &st)
	e.admit(routes[1], false, other, time.Now(), &st)
	if len(got) != 1 || got[0] != netip.MustParseAddr("10.0.0.7") {
		t.Errorf("pins told: %v, want [10.0.0.7] once", got)
	}
}
