package mixer

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ars-project/ars/internal/mixproto"
)

// MP4 composites survive a crash. mp4mux writes them fragmented (a moov,
// then a fragment a second; fragment-mode first-moov-then-finalise in
// pipeline.go) and rewrites them as a plain MP4 at the end, so a mixer
// killed with its daemon leaves a file that plays up to its last whole
// fragment instead of one without a moov. The final name is a hard link
// to the fragment's temporary name from the moment it opens, so what a
// crash leaves is already where the composite belongs (the recording
// directory, the cloud recording's work directory, whose resume uploads
// it).

// linkMP4 gives the MP4 fragment just opened at loc its final name too;
// m.mu is held. Where the link cannot be made the file is renamed when it
// closes, as TS segments are.
func (m *Mixer) linkMP4(loc string) {
	final := m.finalName(mixproto.KindMP4, loc, 0)
	if err := os.Link(loc, final); err != nil {
		m.log.Warn("MP4 composite not linked to its final name: a crash would lose it", "file", final, "error", err)
		return
	}
	m.linked[loc] = final
}

// removeLeftovers removes the temporary names a crashed mixer left in dir
// before a new mixer reuses them (its files would otherwise truncate a
// composite still linked to one). What they held is under the final
// names (MP4) or is the last, incomplete segment of a crash (TS).
func removeLeftovers(dir string, log *slog.Logger) {
	for _, pat := range []string{".mix-mp4-*.mp4", ".mix-ts-*.ts"} {
		names, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, n := range names {
			if err := os.Remove(n); err != nil {
				log.Warn("leftover temporary output not removed", "file", n, "error", err)
				continue
			}
			log.Info("removed the temporary output of an earlier mixer", "file", n)
		}
	}
}
