package storage

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Error statuses written to Metadata.txt.
const (
	StatusOK           = ""
	StatusWriteFailed  = "write_failed"
	StatusInterrupted  = "interrupted"
	metadataVersion    = "1.0"
	metadataTmpPattern = ".Metadata-*"
)

// Metadata is the content of a recording's Metadata.txt.
type Metadata struct {
	Version     string
	Tag         string
	ChannelName string
	ErrorStatus string
}

// Format renders the guide's four lines.
func (m Metadata) Format() string {
	v := m.Version
	if v == "" {
		v = metadataVersion
	}
	return "<version>" + v + "</version>\n" +
		"<tag>" + oneLine(m.Tag) + "</tag>\n" +
		"<channel name>" + m.ChannelName + "</channel name>\n" +
		"<error status>" + m.ErrorStatus + "</error status>\n"
}

// oneLine keeps a user's tag from adding lines to the file.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}

// WriteMetadata replaces dir/Metadata.txt atomically.
func WriteMetadata(dir string, m Metadata) error {
	f, err := os.CreateTemp(dir, metadataTmpPattern)
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	tmp := f.Name()
	_, werr := f.WriteString(m.Format())
	if werr == nil {
		werr = f.Chmod(FileMode)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(dir, MetadataFile))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		// A full disk refuses the temporary copy, yet that is when the
		// status (write_failed) matters most. Rewriting the existing file
		// in place needs no new block: the status adds a few bytes to a
		// file far smaller than one block.
		if isNoSpace(werr) && overwrite(filepath.Join(dir, MetadataFile), m.Format()) == nil {
			return nil
		}
		return fmt.Errorf("write metadata: %w", werr)
	}
	return nil
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// overwrite replaces an existing file's content without truncating it
// first, so that the blocks it holds are reused rather than freed.
func overwrite(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(content), 0)
	if err == nil {
		err = f.Truncate(int64(len(content)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadMetadata parses dir/Metadata.txt.
func ReadMetadata(dir string) (Metadata, error) {
	f, err := os.Open(filepath.Join(dir, MetadataFile))
	if err != nil {
		return Metadata{}, fmt.Errorf("read metadata: %w", err)
	}
	defer f.Close()
	var m Metadata
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for field, dst := range map[string]*string{
			"version": &m.Version, "tag": &m.Tag, "channel name": &m.ChannelName, "error status": &m.ErrorStatus,
		} {
			open, closing := "<"+field+">", "</"+field+">"
			if strings.HasPrefix(line, open) && strings.HasSuffix(line, closing) {
				*dst = line[len(open) : len(line)-len(closing)]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Metadata{}, fmt.Errorf("read metadata: %w", err)
	}
	return m, nil
}
