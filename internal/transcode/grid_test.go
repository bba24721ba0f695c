package transcode

import (
	"encoding/binary"
	"math"
	"testing"
)

// placeGrid runs a grid over picture times and checks what holds for any
// input: times never negative and strictly increasing.
func placeGrid(t testing.TB, g *grid, raw []int64) []int64 {
	t.Helper()
	out := make([]int64, len(raw))
	for i, ts := range raw {
		out[i] = g.place(ts)
		if out[i] < 0 || (i > 0 && out[i] <= out[i-1]) {
			t.Fatalf("picture %d placed at %d after %v", i, out[i], out[:i])
		}
	}
	return out
}

// every returns n picture times k*num/den seconds apart on a 90 kHz
// clock, rounded as an RTP sender rounds them.
func every(n int, num, den int64) []int64 {
	raw := make([]int64, n)
	for k := range raw {
		raw[k] = int64(math.Floor(float64(int64(k)*90000*den)/float64(num) + 0.5))
	}
	return raw
}

func TestGridKeepsDeclaredRate(t *testing.T) {
	cases := []struct {
		name     string
		num, den uint64 // declared by the SPS
		raw      []int64
	}{
		{"25 fps", 25, 1, every(300, 25, 1)},
		{"29.97 fps", 30000, 1001, every(300, 30000, 1001)},
		{"23.976 fps, not a whole number of ticks", 24000, 1001, every(300, 24000, 1001)},
		{"59.94 fps, half ticks", 60000, 1001, every(300, 60000, 1001)},
		{"30 fps declared, 15 fps sent", 30, 1, every(300, 15, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrid(90000, tc.num, tc.den)
			if !g.declared {
				t.Fatalf("grid does not follow %d/%d", tc.num, tc.den)
			}
			for i, got := range placeGrid(t, &g, tc.raw) {
				if got != tc.raw[i] {
					t.Fatalf("picture %d moved from %d to %d", i, tc.raw[i], got)
				}
			}
		})
	}
}

func TestGridSlots(t *testing.T) {
	const frame25 = 3600
	cases := []struct {
		name     string
		num, den uint64
		raw      []int64
		slot     int64 // ticks per slot
		maxMove  int64 // largest distance from the input, in ticks
	}{
		{"no declared rate: 1/120 s", 0, 0, []int64{0, 4600, 9000, 13600, 13700, 18000}, 750, 750},
		{"25 fps with ±15 ms of jitter", 25, 1,
			[]int64{0, frame25 + 1350, 2*frame25 - 1350, 3*frame25 + 900, 4 * frame25, 5*frame25 - 1300}, frame25, frame25 / 2},
		{"25 fps declared, two pictures in one slot", 25, 1, []int64{0, frame25, frame25 + 100, 3 * frame25}, frame25, frame25},
		{"implausible rate ignored", 1000, 1, []int64{0, 90, 3000, 6000}, 750, 750},
		{"below 1 fps ignored", 1, 2, []int64{0, 3000, 6000}, 750, 750},
		{"above 210 fps ignored", 240, 1, []int64{0, 375, 750, 1500}, 750, 750},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrid(90000, tc.num, tc.den)
			out := placeGrid(t, &g, tc.raw)
			for i, q := range out {
				if q%tc.slot != 0 {
					t.Fatalf("picture %d at %d is off the %d-tick grid: %v", i, q, tc.slot, out)
				}
				if d := q - tc.raw[i]; d > tc.maxMove || -d > tc.maxMove {
					t.Fatalf("picture %d moved by %d ticks: %v", i, d, out)
				}
			}
		})
	}
}

// A sender that comes faster than its SPS declares cannot have a slot per
// picture at the declared rate: the grid lets it lag at most maxGridLag,
// then falls back to the fine grid, which keeps sync.
func TestGridFasterThanDeclared(t *testing.T) {
	g := newGrid(90000, 25, 1)
	raw := every(500, 50, 1)
	out := placeGrid(t, &g, raw)
	if g.declared {
		t.Fatal("grid still follows the declared rate")
	}
	limit := int64(maxGridLag.Seconds()*90000) + 3600
	for i, q := range out {
		if lag := q - raw[i]; lag > limit {
			t.Fatalf("picture %d lags %d ticks", i, lag)
		}
	}
	for i := len(out) - 50; i < len(out); i++ {
		if out[i]%750 != 0 || out[i]-raw[i] > 375 {
			t.Fatalf("picture %d at %d (sent %d), not on the fine grid", i, out[i], raw[i])
		}
	}
}

func TestSPSFrameRate(t *testing.T) {
	// The SPS x264 writes for 320x240 baseline at 25 fps (VUI timing
	// 1/50), the same with its timing rewritten by ffmpeg's h264_metadata
	// filter (tick_rate=60000/1001), and one with no VUI at all.
	x264 := []byte{0x67, 0x42, 0xc0, 0x14, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
		0x00, 0x00, 0x0c, 0xa3, 0xc5, 0x0a, 0xa8}
	ntsc := []byte{0x67, 0x42, 0xc0, 0x14, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0xfa, 0x40, 0x00,
		0x3a, 0x98, 0x23, 0xc5, 0x0a, 0xa8}
	noVUI := []byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xe4}
	cases := []struct {
		name     string
		sps      []byte
		num, den uint64
	}{
		{"x264 25 fps", x264, 25, 1},
		{"29.97 fps", ntsc, 30000, 1001},
		{"no VUI", noVUI, 0, 0},
		{"cut inside the timing info", x264[:12], 0, 0},
		{"not an SPS", []byte{0x68, 0xce, 0x3c, 0x80}, 0, 0},
		{"empty", nil, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			num, den := spsFrameRate(tc.sps)
			if num != tc.num || den != tc.den {
				t.Fatalf("rate %d/%d, want %d/%d", num, den, tc.num, tc.den)
			}
		})
	}
}

// FuzzGrid feeds a grid arbitrary rates and picture times: it must never
// panic, go back in time or leave a declared rate's slots except by the
// lag rule.
func FuzzGrid(f *testing.F) {
	f.Add(uint64(25), uint64(1), []byte{0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10})
	f.Add(uint64(30000), uint64(1001), []byte{0, 0, 0x0b, 0xbb, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint64(0), uint64(0), []byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, num, den uint64, deltas []byte) {
		g := newGrid(90000, num, den)
		var raw []int64
		var ts int64
		for len(deltas) >= 4 {
			ts += int64(binary.BigEndian.Uint32(deltas))
			raw = append(raw, ts)
			deltas = deltas[4:]
		}
		placeGrid(t, &g, raw)
	})
}
