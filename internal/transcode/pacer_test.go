package transcode

import "testing"

const frame20 = 4500 // one picture at 20 fps, 90 kHz

// placeAll runs a pacer over raw picture times and checks the invariants:
// output never earlier than sent, and strictly increasing.
func placeAll(t *testing.T, raw []int64) []int64 {
	t.Helper()
	var p pacer
	out := make([]int64, len(raw))
	for i, ts := range raw {
		out[i] = p.place(ts)
		if out[i] < ts {
			t.Fatalf("picture %d moved earlier: %d < %d", i, out[i], ts)
		}
		if i > 0 && out[i] <= out[i-1] {
			t.Fatalf("picture %d not after its predecessor", i)
		}
	}
	return out
}

func TestPacerLeavesRegularStreams(t *testing.T) {
	var raw []int64
	for i := int64(0); i < 100; i++ {
		raw = append(raw, 1000+i*frame20)
	}
	for i, got := range placeAll(t, raw) {
		if got != raw[i] {
			t.Fatalf("picture %d moved to %d", i, got)
		}
	}
}

func TestPacerSpacesJitteredStamps(t *testing.T) {
	var raw []int64
	for i := int64(0); i < 200; i++ {
		ts := i*frame20 + (i%3)*90 // ±1 ms of ordinary jitter
		if i%10 == 5 {
			ts += 3420 // 38 ms late: the next picture follows 12 ms after
		}
		raw = append(raw, ts)
	}
	out := placeAll(t, raw)
	for i := 10; i < len(out); i++ {
		if gap := out[i] - out[i-1]; gap < frame20-180 { // within the ordinary jitter
			t.Fatalf("picture %d only %d ticks after its predecessor", i, gap)
		}
		if lag := out[i] - raw[i]; lag > frame20 {
			t.Fatalf("picture %d lags %d ticks", i, lag)
		}
	}
}

// Chromium starts its camera at 10 fps and goes to 20 fps: the cadence
// follows without piling up lag.
func TestPacerFollowsARateChange(t *testing.T) {
	var raw []int64
	for i := int64(0); i < 5; i++ {
		raw = append(raw, i*2*frame20)
	}
	for i := int64(1); i < 100; i++ {
		raw = append(raw, 8*frame20+i*frame20)
	}
	out := placeAll(t, raw)
	for i := 20; i < len(out); i++ {
		if lag := out[i] - raw[i]; lag > frame20 {
			t.Fatalf("picture %d still lags %d ticks after the change", i, lag)
		}
		if gap := out[i] - out[i-1]; gap < frame20/2 {
			t.Fatalf("picture %d only %d ticks after its predecessor", i, gap)
		}
	}
}
