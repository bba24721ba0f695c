package mixbench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSection: the composite section is appended once, then
// replaced in place; the other sections stay as they were.
func TestWriteSection(t *testing.T) {
	p := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := os.WriteFile(p, []byte("# Results\n\ncapacity table\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sec := func(s string) string { return SectionBegin + "\n" + s + "\n" + SectionEnd + "\n" }
	if err := WriteSection(p, sec("one")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, "## after\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(p, sec("two")); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	want := "# Results\n\ncapacity table\n\n" + sec("two") + "## after\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	if got := ReadSection(p); got != sec("two") {
		t.Fatalf("read back %q", got)
	}
	if strings.Count(string(b), SectionBegin) != 1 {
		t.Fatal("two sections")
	}
}
