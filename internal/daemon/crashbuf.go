package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// captureBufferDir says where capture write buffers live
// (ARS_CAPTURE_BUFFER_DIR): "" when they stay on the heap. The default is
// a tmpfs that outlives the process but not a reboot, as the page cache
// does: systemd's RuntimeDirectory (the unit sets RuntimeDirectoryPreserve
// so that a restart keeps it; a private /dev/shm would not be kept), else
// a directory of /dev/shm named after the state directory, so that two
// daemons on one host never share one.
func captureBufferDir(setting, stateDir string) (string, error) {
	switch setting {
	case "off":
		return "", nil
	case "":
		if rt, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":"); rt != "" {
			setting = filepath.Join(rt, "capture-buffers")
			break
		}
		abs, err := filepath.Abs(stateDir)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(abs))
		setting = filepath.Join("/dev/shm", fmt.Sprintf("ars-%d-%s", os.Geteuid(), hex.EncodeToString(sum[:6])))
	}
	if err := os.MkdirAll(setting, 0o700); err != nil {
		return "", err
	}
	// The buffers hold media: the directory is the daemon's alone, even
	// if it existed before with a looser mode.
	if err := os.Chmod(setting, 0o700); err != nil {
		return "", err
	}
	return setting, nil
}

// onTmpfs reports whether dir is on a memory filesystem. Buffers anywhere
// else work but cost disk writes as the kernel writes their pages back.
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && (st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC)
}
