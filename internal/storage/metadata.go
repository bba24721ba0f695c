package storage

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		return fmt.Errorf("write metadata: %w", werr)
	}
	return nil
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
