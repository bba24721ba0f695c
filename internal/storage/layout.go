package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// CaptureExt and MP4Ext name a participant's raw capture and its conversion.
const (
	CaptureExt     = ".tmp"
	MP4Ext         = ".mp4"
	TranscodingExt = ".transcoding"
	MetadataFile   = "Metadata.txt"
	// activeMarker sits in a recording directory while the daemon records
	// into it; one found at start-up means the daemon died mid-recording.
	activeMarker = ".ars-active"
)

// Layout places recordings under a root directory exactly as the ARS guide
// describes: root/yyyy_mm_dd/ChannelName_HHMMSS/.
type Layout struct {
	Root string
}

// CheckWritable makes sure the root exists and a file can be created in it.
func (l Layout) CheckWritable() error {
	if err := os.MkdirAll(l.Root, DirMode); err != nil {
		return fmt.Errorf("recording root %s: %w", l.Root, err)
	}
	f, err := os.CreateTemp(l.Root, ".ars-probe-*")
	if err != nil {
		return fmt.Errorf("recording root %s is not writable: %w", l.Root, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// CreateRecordingDir makes the directory of a recording that starts at t
// (server local time). A second recording of the same channel in the same
// second gets a numbered suffix rather than sharing a directory.
func (l Layout) CreateRecordingDir(channel string, t time.Time) (string, error) {
	if err := ValidateChannelName(channel); err != nil {
		return "", err
	}
	day := filepath.Join(l.Root, t.Format("2006_01_02"))
	if err := os.MkdirAll(day, DirMode); err != nil {
		return "", fmt.Errorf("create day directory: %w", err)
	}
	base := channel + "_" + t.Format("150405")
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name += "_" + strconv.Itoa(i)
		}
		dir := filepath.Join(day, name)
		err := os.Mkdir(dir, DirMode)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create recording directory: %w", err)
		}
	}
	return "", fmt.Errorf("create recording directory %s: too many recordings in one second", base)
}

// CaptureName is the file name of a participant capture begun at t:
// UID_HHMMSS.tmp, with a numbered suffix when that name is taken.
func CaptureName(dir string, uid uint32, t time.Time) string {
	base := strconv.FormatUint(uint64(uid), 10) + "_" + t.Format("150405")
	name := base + CaptureExt
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(dir, name)
		}
		name = base + "_" + strconv.Itoa(i) + CaptureExt
	}
}

// MarkActive records that the daemon is writing into dir.
func MarkActive(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, activeMarker), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, FileMode)
	if err != nil {
		return fmt.Errorf("mark recording active: %w", err)
	}
	return f.Close()
}

// ClearActive removes the marker once a recording ended cleanly.
func ClearActive(dir string) error {
	err := os.Remove(filepath.Join(dir, activeMarker))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear recording marker: %w", err)
	}
	return nil
}

// FindInterrupted lists recording directories still marked active: at
// daemon start-up these are recordings a crash cut short.
func (l Layout) FindInterrupted() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(l.Root, "*", "*", activeMarker))
	if err != nil {
		return nil, fmt.Errorf("scan for interrupted recordings: %w", err)
	}
	dirs := make([]string, 0, len(matches))
	for _, m := range matches {
		dirs = append(dirs, filepath.Dir(m))
	}
	return dirs, nil
}
