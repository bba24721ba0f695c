package mixrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ars-project/ars/internal/mixproto"
)

func TestPlaylist(t *testing.T) {
	dir := t.TempDir()
	p := NewPlaylist(dir, "sid_c.m3u8")
	seg := func(name string, ms int64) mixproto.FileClosed {
		return mixproto.FileClosed{Kind: mixproto.KindTS, Name: name, DurationNs: ms * 1e6}
	}
	for i, tc := range []struct {
		f     mixproto.FileClosed
		disco bool
	}{{seg("a.ts", 10000), true}, {seg("b.ts", 9500), false}, {seg("c.ts", 10400), true}} {
		if err := p.Add(tc.f, tc.disco); err != nil {
			t.Fatal(i, err)
		}
	}
	read := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "sid_c.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	live := read()
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:11\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXTINF:10.000,\na.ts\n#EXTINF:9.500,\nb.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:10.400,\nc.ts\n"
	if live != want {
		t.Fatalf("live playlist:\n%s\nwant:\n%s", live, want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if end := read(); !strings.HasSuffix(end, "c.ts\n#EXT-X-ENDLIST\n") || !strings.Contains(end, "#EXT-X-PLAYLIST-TYPE:VOD\n") {
		t.Fatalf("ended playlist:\n%s", end)
	}
	if p.Segments() != 3 {
		t.Fatal(p.Segments())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestGrid(t *testing.T) {
	for n, want := range map[int][2]int{1: {640, 360}, 2: {320, 360}, 3: {320, 180}, 4: {320, 180}, 5: {212, 180}, 17: {128, 90}} {
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = uint32(i + 1)
		}
		ws := grid(ids, 640, 360)
		if len(ws) != min(n, mixproto.MaxWindows) {
			t.Fatalf("%d sources: %d windows", n, len(ws))
		}
		l := mixproto.Layout{Windows: ws}
		if err := l.Validate(&mixproto.VideoConfig{Width: 640, Height: 360}); err != nil {
			t.Fatalf("%d sources: %v", n, err)
		}
		if ws[0].W != want[0] || ws[0].H != want[1] {
			t.Fatalf("%d sources: cell %dx%d, want %v", n, ws[0].W, ws[0].H, want)
		}
		for i := range ws {
			for j := i + 1; j < len(ws); j++ {
				a, b := ws[i], ws[j]
				if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Fatalf("%d sources: windows %d and %d overlap", n, i, j)
				}
			}
		}
	}
}
