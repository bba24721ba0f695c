package config

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DevCredentialsFile is where a development app ID and certificate are kept
// between runs, relative to the recording root.
const DevCredentialsFile = ".ars/dev-credentials.env"

// EnsureDevCredentials fills in an app ID and certificate when none is
// configured: it reuses the pair stored under the recording root or
// generates one and stores it with mode 0600. It reports whether it created
// the pair.
func (c *Config) EnsureDevCredentials() (path string, created bool, err error) {
	if c.AppID != "" {
		return "", false, nil
	}
	path = filepath.Join(c.FileRoot, DevCredentialsFile)
	c.Dev = true
	if b, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "ARS_APP_ID":
				c.AppID = v
			case "ARS_APP_CERTIFICATE":
				c.AppCertificate = v
			}
		}
		if isHex32(c.AppID) && isHex32(c.AppCertificate) {
			return path, false, nil
		}
		return "", false, fmt.Errorf("%s is damaged: remove it to generate a new pair", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read development credentials: %w", err)
	}
	c.AppID, c.AppCertificate = randomHex32(), randomHex32()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("store development credentials: %w", err)
	}
	content := "ARS_APP_ID=" + c.AppID + "\nARS_APP_CERTIFICATE=" + c.AppCertificate + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return "", false, fmt.Errorf("store development credentials: %w", err)
	}
	return path, true, nil
}

func randomHex32() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
