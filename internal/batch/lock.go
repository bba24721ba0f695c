package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ars-project/ars/internal/storage"
)

var (
	// errBusy means another converter holds the .transcoding lock.
	errBusy = errors.New("transcoding file is locked")
	// errMoved means the file we locked is no longer at its path.
	errMoved = errors.New("transcoding file moved before it was locked")
)

// lockAttempts bounds retries when the file we locked was renamed or
// removed by its previous holder between our open and our lock.
const lockAttempts = 3

// transcodingLock is an exclusive flock on a capture's .transcoding file,
// held from before the file is truncated until after it is renamed.
type transcodingLock struct {
	f    *os.File
	path string
}

// lockTranscoding opens path without truncating it, so that a file another
// converter is writing is never clobbered, takes the lock, and only then
// truncates a leftover from a crashed run.
func lockTranscoding(path string) (*transcodingLock, error) {
	for range lockAttempts {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, storage.FileMode)
		if err != nil {
			return nil, fmt.Errorf("open transcoding file: %w", err)
		}
		l, err := lockOpened(f, path)
		if errors.Is(err, errMoved) {
			continue
		}
		return l, err
	}
	return nil, errBusy
}

// lockOpened locks f, opened at path, and truncates it. On failure it
// closes f.
func lockOpened(f *os.File, path string) (*transcodingLock, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		_ = f.Close()
		return nil, errBusy
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock transcoding file: %w", err)
	}
	// The previous holder may have renamed our inode to .mp4 (or removed
	// it) after we opened it: then the lock guards nothing and truncating
	// would destroy a finished MP4.
	if same, err := stillAt(f, path); err != nil || !same {
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		return nil, errMoved
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("truncate transcoding file: %w", err)
	}
	if err := f.Chmod(storage.FileMode); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("chmod transcoding file: %w", err)
	}
	return &transcodingLock{f: f, path: path}, nil
}

// stillAt reports whether path still names the file f has open.
func stillAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat transcoding file: %w", err)
	}
	now, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat transcoding file: %w", err)
	}
	return os.SameFile(held, now), nil
}

// commit makes the converted file durable and gives it its final name:
// fsync the data, rename without replacing, fsync the directory. An MP4
// that appeared meanwhile is never overwritten (fs.ErrExist).
func (l *transcodingLock) commit(final string) error {
	if same, err := stillAt(l.f, l.path); err != nil {
		return err
	} else if !same {
		return fmt.Errorf("%s: %w", l.path, ErrReplaced)
	}
	if err := l.f.Chmod(storage.FileMode); err != nil {
		return fmt.Errorf("chmod %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", l.path, err)
	}
	if err := renameNoReplace(l.path, final); err != nil {
		return err
	}
	// From here the path we locked no longer exists; discard must not
	// remove anything.
	l.path = ""
	return syncDir(filepath.Dir(final))
}

// discard removes the .transcoding file if it is still ours. Called on
// failure so that no partial output lingers.
func (l *transcodingLock) discard() {
	if l.f == nil || l.path == "" {
		return
	}
	if same, err := stillAt(l.f, l.path); err == nil && same {
		_ = os.Remove(l.path)
	}
	l.path = ""
}

// release closes the file, which drops the lock.
func (l *transcodingLock) release() {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("rename to %s: %w", to, fs.ErrExist)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		// Filesystems without RENAME_NOREPLACE: check, then rename. The
		// window only matters if something else writes .mp4 names.
		if ok, err := exists(to); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("rename to %s: %w", to, fs.ErrExist)
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("rename to %s: %w", to, err)
		}
		return nil
	default:
		return fmt.Errorf("rename to %s: %w", to, err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
