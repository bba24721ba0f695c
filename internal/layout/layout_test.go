package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ars-project/ars/internal/mixproto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

func people(n int) []Participant {
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{UID: fmt.Sprint(100 + i), Source: uint32(i + 1), Video: i%3 != 2}
	}
	return ps
}

var canvases = [][2]int{{640, 360}, {360, 640}, {1920, 1080}, {1280, 720}, {321, 241}, {16, 16}}

func inside(t *testing.T, w mixproto.Window, width, height int) {
	t.Helper()
	if w.W < 1 || w.H < 1 || w.X < 0 || w.Y < 0 || w.X+w.W > width || w.Y+w.H > height {
		t.Errorf("window %+v outside %dx%d", w, width, height)
	}
	if w.Alpha <= 0 || w.Alpha > 1 {
		t.Errorf("window %+v: alpha", w)
	}
}

func overlap(a, b mixproto.Window) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func noOverlap(t *testing.T, ws []mixproto.Window) {
	t.Helper()
	for i := range ws {
		for j := i + 1; j < len(ws); j++ {
			if overlap(ws[i], ws[j]) {
				t.Errorf("windows %d %+v and %d %+v overlap", i, ws[i], j, ws[j])
			}
		}
	}
}

func TestPredefined(t *testing.T) {
	for _, mode := range []Mode{Floating, BestFit, Vertical} {
		for _, cv := range canvases {
			for n := 1; n <= 19; n++ {
				for _, maxUID := range []string{"", "100", "103", "none"} {
					name := fmt.Sprintf("mode%d/%dx%d/n%d/max%s", mode, cv[0], cv[1], n, maxUID)
					t.Run(name, func(t *testing.T) {
						cfg := Config{Width: cv[0], Height: cv[1], Mode: mode, MaxResolutionUID: maxUID, Background: 0x123456}
						ps := people(n)
						l := Compute(cfg, ps)
						if l.Background != 0x123456 {
							t.Errorf("background %#x", l.Background)
						}
						if len(l.Windows) > mixproto.MaxWindows {
							t.Fatalf("%d windows", len(l.Windows))
						}
						big := cv[0] >= 64 // the 16x16 canvas is too small for every cell
						if big && len(l.Windows) != min(n, mixproto.MaxWindows) {
							t.Errorf("%d windows for %d participants", len(l.Windows), n)
						}
						vc := &mixproto.VideoConfig{Width: cv[0], Height: cv[1], FPS: 15, BitrateKbps: 500}
						if err := l.Validate(vc); err != nil {
							t.Error(err)
						}
						srcs := map[uint32]bool{}
						for _, w := range l.Windows {
							inside(t, w, cv[0], cv[1])
							if w.X%2 != 0 || w.Y%2 != 0 || w.W%2 != 0 || w.H%2 != 0 {
								t.Errorf("odd window %+v", w)
							}
							if w.Fit {
								t.Errorf("predefined window %+v fits; Agora crops", w)
							}
							if srcs[w.Source] {
								t.Errorf("source %d twice", w.Source)
							}
							srcs[w.Source] = true
						}
						if mode != BestFit {
							want := uint32(1)
							if maxUID == "103" && n > 3 {
								want = 4
							}
							if l.Windows[0].Source != want || l.Windows[0].Z != 0 {
								t.Errorf("big window %+v, want source %d at z 0", l.Windows[0], want)
							}
							for _, w := range l.Windows[1:] {
								if w.Z != 1 {
									t.Errorf("small window %+v not at z 1", w)
								}
							}
							if mode == Floating {
								w0 := l.Windows[0]
								if w0.X != 0 || w0.Y != 0 || w0.W != cv[0]&^1 || w0.H != cv[1]&^1 {
									t.Errorf("floating big window %+v does not fill the canvas", w0)
								}
								for _, w := range l.Windows[1:] {
									if w.Z != 1 {
										t.Errorf("small window %+v not at z 1", w)
									}
								}
								noOverlap(t, l.Windows[1:])
							} else {
								noOverlap(t, l.Windows)
							}
						} else {
							noOverlap(t, l.Windows)
							for i, w := range l.Windows {
								if w.Source != uint32(i+1) {
									t.Errorf("best fit window %d has source %d, want join order", i, w.Source)
								}
							}
						}
					})
				}
			}
		}
	}
}

func TestBestFitTiles(t *testing.T) {
	want := map[int][2]int{1: {1, 1}, 2: {2, 1}, 3: {2, 2}, 4: {2, 2}, 5: {3, 3}, 9: {3, 3}, 10: {4, 4}, 16: {4, 4}, 17: {5, 4}}
	for n, cr := range want {
		l := Compute(Config{Width: 1280, Height: 720, Mode: BestFit}, people(n))
		area := 0
		for _, w := range l.Windows {
			area += w.W * w.H
		}
		cells := cr[0] * cr[1]
		// Full rows or the whole canvas: the used cells cover n/cells of it.
		if n == cells && area != 1280*720 {
			t.Errorf("n=%d: area %d, want the whole canvas", n, area)
		}
		if w := l.Windows[0]; abs(w.W-1280/cr[0]) > 2 || abs(w.H-720/cr[1]) > 2 {
			t.Errorf("n=%d: first cell %+v, want %dx%d grid", n, w, cr[0], cr[1])
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestFloatingGeometry(t *testing.T) {
	l := Compute(Config{Width: 1000, Height: 500}, people(17))
	// First small window: bottom-left, 0.235 of each side, gap 0.012.
	if w := l.Windows[1]; w.X != 12 || w.W != 236 || w.Y != 376 || w.H != 118 {
		t.Errorf("first small window %+v", w)
	}
	// The fifth small window starts the second row, above the first.
	if a, b := l.Windows[1], l.Windows[5]; b.X != a.X || b.Y >= a.Y {
		t.Errorf("second row %+v vs %+v", b, a)
	}
}

func TestCustom(t *testing.T) {
	cfg := Config{Width: 641, Height: 361, Mode: Custom, Regions: []Region{
		{UID: "101", X: 0, Y: 0, W: 1, H: 1},
		{UID: "100", X: 0.5, Y: 0.5, W: 0.5, H: 0.5, Alpha: 0.5, Fit: true},
		{UID: "gone", X: 0, Y: 0, W: 0.3, H: 0.3},
		{UID: "102", X: 0.999, Y: 0, W: 0.001, H: 0.1}, // rounds to nothing
	}}
	ps := append(people(4), Participant{UID: "nobody", Source: 99})
	l := Compute(cfg, ps)
	if len(l.Windows) != 2 {
		t.Fatalf("windows %+v", l.Windows)
	}
	a, b := l.Windows[0], l.Windows[1]
	if a.Source != 2 || a.X != 0 || a.Y != 0 || a.W != 640 || a.H != 360 || a.Alpha != 1 || a.Fit || a.Z != 0 {
		t.Errorf("first %+v", a)
	}
	if b.Source != 1 || b.X != 320 || b.Y != 180 || b.W != 320 || b.H != 180 || b.Alpha != 0.5 || !b.Fit || b.Z != 1 {
		t.Errorf("second %+v", b)
	}
	for _, w := range l.Windows {
		inside(t, w, 641, 361)
	}
}

// TestCustomByJoinOrder: regions without a uid take the participants no
// region names, in join order.
func TestCustomByJoinOrder(t *testing.T) {
	cfg := Config{Width: 640, Height: 360, Mode: Custom, Regions: []Region{
		{X: 0, Y: 0, W: 0.5, H: 1},
		{UID: "100", X: 0.5, Y: 0, W: 0.5, H: 0.5},
		{X: 0.5, Y: 0.5, W: 0.5, H: 0.5},
		{X: 0, Y: 0, W: 0.1, H: 0.1}, // nobody left for it
	}}
	l := Compute(cfg, people(3)) // 100, 101, 102 in join order
	got := []uint32{}
	for _, w := range l.Windows {
		got = append(got, w.Source)
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 1 || got[2] != 3 {
		t.Fatalf("sources %v (windows %+v), want 101 left, 100 top right, 102 bottom right", got, l.Windows)
	}
}

func TestEmpty(t *testing.T) {
	for _, m := range []Mode{Floating, BestFit, Vertical, Custom} {
		l := Compute(Config{Width: 640, Height: 360, Mode: m, Background: 7}, nil)
		if l.Background != 7 || l.Windows == nil || len(l.Windows) != 0 {
			t.Errorf("mode %d: %+v", m, l)
		}
	}
}

func TestParseColor(t *testing.T) {
	good := map[string]uint32{"#000000": 0, "#FFFFFF": 0xffffff, "#ff0000": 0xff0000, "#12aBcD": 0x12abcd}
	for s, want := range good {
		got, err := ParseColor(s)
		if err != nil || got != want {
			t.Errorf("ParseColor(%q) = %#x, %v; want %#x", s, got, err, want)
		}
	}
	for _, s := range []string{"", "#", "000000", "#00000", "#0000000", "#GG0000", "#+12345", "# 12345", "red", "0x123456"} {
		if _, err := ParseColor(s); !errors.Is(err, ErrBadColor) {
			t.Errorf("ParseColor(%q): %v, want ErrBadColor", s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	regions := func(n int) []Region {
		rs := make([]Region, n)
		for i := range rs {
			rs[i] = Region{UID: fmt.Sprint(i), W: 0.1, H: 0.1}
		}
		return rs
	}
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"floating", Config{Width: 640, Height: 360}, true},
		{"bestfit", Config{Width: 640, Height: 360, Mode: BestFit}, true},
		{"vertical", Config{Width: 640, Height: 360, Mode: Vertical, MaxResolutionUID: "1"}, true},
		{"vertical without max", Config{Width: 640, Height: 360, Mode: Vertical}, false},
		{"custom 17", Config{Mode: Custom, Regions: regions(17)}, true},
		{"custom 18", Config{Mode: Custom, Regions: regions(18)}, false},
		{"edges", Config{Mode: Custom, Regions: []Region{{UID: "a", X: 0.7, W: 0.3, Y: 0.9, H: 0.1, Alpha: 1}}}, true},
		{"x+w>1", Config{Mode: Custom, Regions: []Region{{UID: "a", X: 0.8, W: 0.3, H: 0.1}}}, false},
		{"y+h>1", Config{Mode: Custom, Regions: []Region{{UID: "a", Y: 0.8, H: 0.3, W: 0.1}}}, false},
		{"negative", Config{Mode: Custom, Regions: []Region{{UID: "a", X: -0.1, W: 0.3, H: 0.1}}}, false},
		{"w>1", Config{Mode: Custom, Regions: []Region{{UID: "a", W: 1.1, H: 0.1}}}, false},
		{"alpha>1", Config{Mode: Custom, Regions: []Region{{UID: "a", W: 1, H: 1, Alpha: 1.5}}}, false},
		{"alpha<0", Config{Mode: Custom, Regions: []Region{{UID: "a", W: 1, H: 1, Alpha: -0.5}}}, false},
		{"duplicate uid", Config{Mode: Custom, Regions: []Region{{UID: "a", W: 1, H: 1}, {UID: "a", W: 1, H: 1}}}, false},
		{"mode 4", Config{Mode: 4}, false},
		{"mode -1", Config{Mode: -1}, false},
		{"background", Config{Background: 0x1000000}, false},
		{"canvas", Config{Width: 4000, Height: 360}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrBadLayout) {
			t.Errorf("%s: %v, want ErrBadLayout", c.name, err)
		}
	}
}

// TestGolden pins every predefined mode for 1..17 participants on a
// 640x360 canvas, and one custom layout. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	modes := map[string]Config{
		"floating": {Width: 640, Height: 360, Mode: Floating, Background: 0x102030},
		"bestfit":  {Width: 640, Height: 360, Mode: BestFit},
		"vertical": {Width: 640, Height: 360, Mode: Vertical, MaxResolutionUID: "101"},
	}
	for name, cfg := range modes {
		t.Run(name, func(t *testing.T) {
			got := map[string]mixproto.Layout{}
			for n := 1; n <= 17; n++ {
				got[fmt.Sprintf("%02d", n)] = Compute(cfg, people(n))
			}
			golden(t, name, got)
		})
	}
	t.Run("custom", func(t *testing.T) {
		cfg := Config{Width: 640, Height: 360, Mode: Custom, Regions: []Region{
			{UID: "100", X: 0, Y: 0, W: 0.75, H: 1},
			{UID: "101", X: 0.75, Y: 0, W: 0.25, H: 0.5, Alpha: 0.8},
			{UID: "102", X: 0.75, Y: 0.5, W: 0.25, H: 0.5, Fit: true},
			{UID: "999", X: 0.1, Y: 0.1, W: 0.2, H: 0.2},
		}}
		golden(t, "custom", map[string]mixproto.Layout{"04": Compute(cfg, people(4))})
	})
}

func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from %s (run go test -update if intended)\n%s", name, path, b)
	}
}
