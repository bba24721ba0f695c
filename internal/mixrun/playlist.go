package mixrun

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
)

// Playlist is a composite's HLS playlist (MPEG-TS segments), written
// atomically after every segment from the mixer's reports: the daemon
// owns it, so a restarted mixer continues it after a discontinuity.
type Playlist struct {
	dir, name string
	mu        sync.Mutex
	segs      []playSeg
	ended     bool
}

type playSeg struct {
	name  string
	dur   time.Duration
	disco bool
}

// NewPlaylist returns the playlist dir/name.
func NewPlaylist(dir, name string) *Playlist { return &Playlist{dir: dir, name: name} }

// Name is the playlist's file name.
func (p *Playlist) Name() string { return p.name }

// Add appends a finished segment and rewrites the playlist.
func (p *Playlist) Add(f mixproto.FileClosed, discontinuity bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.segs = append(p.segs, playSeg{name: f.Name, dur: time.Duration(f.DurationNs), disco: discontinuity && len(p.segs) > 0})
	return p.writeLocked()
}

// Close marks the playlist complete (#EXT-X-ENDLIST).
func (p *Playlist) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	return p.writeLocked()
}

// Segments is the number of segments listed.
func (p *Playlist) Segments() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.segs)
}

func (p *Playlist) writeLocked() error {
	target := 1.0
	for _, s := range p.segs {
		target = math.Max(target, math.Ceil(s.dur.Seconds()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", int(target))
	if p.ended {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	for _, s := range p.segs {
		if s.disco {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.dur.Seconds(), s.name)
	}
	if p.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	tmp := filepath.Join(p.dir, "."+p.name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		return fmt.Errorf("mixrun: playlist: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, p.name)); err != nil {
		return fmt.Errorf("mixrun: playlist: %w", err)
	}
	return nil
}
