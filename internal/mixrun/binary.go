package mixrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// FindBinary returns the ars-mixer to run: configured (ARS_MIXER_BIN),
// else next to the running executable, else on PATH.
func FindBinary(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoMixer, err)
		}
		return configured, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "ars-mixer")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("ars-mixer")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMixer, err)
	}
	return p, nil
}
