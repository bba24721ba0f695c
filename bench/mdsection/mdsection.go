// Package mdsection keeps the generated sections of a Markdown file
// (bench/RESULTS.md): each benchmark rewrites its own section between
// two HTML comment markers and leaves the rest of the file as it was, so
// that one benchmark can be rerun without rerunning the others.
package mdsection

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// ErrUnclosed means a file has a section's begin marker but not its end
// marker: rewriting it would lose whatever follows.
var ErrUnclosed = errors.New("mdsection: section not closed")

// Markers delimit one section. Begin and End must not occur in each
// other's text or elsewhere in the file.
type Markers struct {
	Begin, End string
}

// Read returns the section of the Markdown file at path, markers and a
// final newline included, or "" when the file or the section is missing.
func Read(path string, m Markers) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	i, j, ok := find(b, m)
	if !ok {
		return ""
	}
	return string(b[i:j]) + "\n"
}

// find is the section's byte range, end marker included.
func find(b []byte, m Markers) (int, int, bool) {
	i := bytes.Index(b, []byte(m.Begin))
	if i < 0 {
		return 0, 0, false
	}
	j := bytes.Index(b[i:], []byte(m.End))
	if j < 0 {
		return i, 0, false
	}
	return i, i + j + len(m.End), true
}

// Write puts section (markers included) into the Markdown file at path:
// in place of the earlier one, or else just before the first section of
// before that the file has, or else at the end. The file is replaced by
// rename, so a reader never sees half of it.
func Write(path string, m Markers, section string, before ...Markers) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("mdsection: %w", err)
	}
	var out []byte
	if i, j, ok := find(old, m); ok {
		out = append(append(append(out, old[:i]...), section...), bytes.TrimPrefix(old[j:], []byte("\n"))...)
	} else if bytes.Contains(old, []byte(m.Begin)) {
		return fmt.Errorf("%w: %s: %q without %q", ErrUnclosed, path, m.Begin, m.End)
	} else if k := firstOf(old, before); k >= 0 {
		out = append(append(append(out, old[:k]...), section...), '\n')
		out = append(out, old[k:]...)
	} else {
		out = append(out, old...)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
			out = append(out, '\n')
		}
		out = append(out, section...)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("mdsection: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("mdsection: %w", err)
	}
	return nil
}

// firstOf is the offset of the earliest begin marker of ms in b, or -1.
func firstOf(b []byte, ms []Markers) int {
	k := -1
	for _, m := range ms {
		if i := bytes.Index(b, []byte(m.Begin)); i >= 0 && (k < 0 || i < k) {
			k = i
		}
	}
	return k
}
