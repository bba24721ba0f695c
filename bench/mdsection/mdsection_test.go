package mdsection

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Two sections' markers, as the benchmarks' own.
func markers() (conv, mix Markers) {
	return Markers{Begin: "<!-- conv:begin -->", End: "<!-- conv:end -->"},
		Markers{Begin: "<!-- mix:begin -->", End: "<!-- mix:end -->"}
}

func sec(m Markers, s string) string { return m.Begin + "\n" + s + "\n" + m.End + "\n" }

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWriteAppendsThenReplaces: a new section goes at the end; written
// again it replaces itself in place and keeps what came after it.
func TestWriteAppendsThenReplaces(t *testing.T) {
	conv, mix := markers()
	p := filepath.Join(t.TempDir(), "RESULTS.md")
	write(t, p, "# Results\n\ncapacity table\n")
	if err := Write(p, mix, sec(mix, "one")); err != nil {
		t.Fatal(err)
	}
	write(t, p, read(t, p)+"## after\n")
	if err := Write(p, mix, sec(mix, "two")); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, p), "# Results\n\ncapacity table\n\n"+sec(mix, "two")+"## after\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := Read(p, mix); got != sec(mix, "two") {
		t.Fatalf("read back %q", got)
	}
	if got := Read(p, conv); got != "" {
		t.Fatalf("absent section read as %q", got)
	}
}

// TestWriteBefore: a new section goes before the first of the named
// sections the file has, and stays there when rewritten.
func TestWriteBefore(t *testing.T) {
	conv, mix := markers()
	p := filepath.Join(t.TempDir(), "RESULTS.md")
	write(t, p, "# Results\n\n"+sec(mix, "composites"))
	for _, body := range []string{"codecs", "codecs again"} {
		if err := Write(p, conv, sec(conv, body), mix); err != nil {
			t.Fatal(err)
		}
		if got, want := read(t, p), "# Results\n\n"+sec(conv, body)+"\n"+sec(mix, "composites"); got != want {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	}
}

// TestWriteRefusesUnclosed: a begin marker without its end is an error,
// and the file is left alone.
func TestWriteRefusesUnclosed(t *testing.T) {
	conv, _ := markers()
	p := filepath.Join(t.TempDir(), "RESULTS.md")
	orig := "# Results\n" + conv.Begin + "\nhalf\n## later section\n"
	write(t, p, orig)
	if err := Write(p, conv, sec(conv, "new")); !errors.Is(err, ErrUnclosed) {
		t.Fatalf("err %v, want ErrUnclosed", err)
	}
	if got := read(t, p); got != orig {
		t.Fatalf("file changed to %q", got)
	}
	if got := Read(p, conv); got != "" {
		t.Fatalf("unclosed section read as %q", got)
	}
}
