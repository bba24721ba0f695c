package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// captureName matches UID_HHMMSS.tmp and the UID_HHMMSS_N.tmp that
// storage.CaptureName gives a second capture begun in the same second.
var captureName = regexp.MustCompile(`^[0-9]{1,10}_[0-9]{6}(_[0-9]+)?\.tmp$`)

// dayLayout is the name of a day directory under the root.
const dayLayout = "2006_01_02"

// IsCaptureName reports whether a file name is that of a capture.
func IsCaptureName(name string) bool { return captureName.MatchString(name) }

// scanRoot lists the captures of root/yyyy_mm_dd/Channel_HHMMSS/, sorted.
// Symbolic links are not followed: the pass never leaves the root.
func scanRoot(root string) ([]string, error) {
	days, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("scan recording root: %w", err)
	}
	var found []string
	for _, day := range days {
		if !day.IsDir() {
			continue
		}
		if _, err := time.Parse(dayLayout, day.Name()); err != nil {
			continue
		}
		recs, err := os.ReadDir(filepath.Join(root, day.Name()))
		if err != nil {
			return nil, fmt.Errorf("scan recording root: %w", err)
		}
		for _, rec := range recs {
			if !rec.IsDir() {
				continue
			}
			dir := filepath.Join(root, day.Name(), rec.Name())
			files, err := os.ReadDir(dir)
			if err != nil {
				return nil, fmt.Errorf("scan recording root: %w", err)
			}
			for _, f := range files {
				if f.Type().IsRegular() && IsCaptureName(f.Name()) {
					found = append(found, filepath.Join(dir, f.Name()))
				}
			}
		}
	}
	sort.Strings(found)
	return found, nil
}

// scanPath lists the captures a command-line path names: a file is taken
// as is (convertOne rejects names without .tmp), a directory is searched
// at any depth for capture names.
func scanPath(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", path, err)
	}
	if !fi.IsDir() {
		return []string{filepath.Clean(path)}, nil
	}
	var found []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && IsCaptureName(d.Name()) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", path, err)
	}
	sort.Strings(found)
	return found, nil
}

// tooOld reports whether a capture was last modified more than maxAge ago.
func tooOld(path string, maxAge time.Duration, now time.Time) (bool, error) {
	if maxAge <= 0 {
		return false, nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // convertOne reports it
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return now.Sub(fi.ModTime()) > maxAge, nil
}
