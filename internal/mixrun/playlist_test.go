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
