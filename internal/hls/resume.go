package hls

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A track made with Config.Resume continues the playlist that an earlier
// run of the daemon left in Dir (after Suspend, or after a crash, when the
// playlist on disk is the last one written: writes are atomic renames).
// The segments listed stay listed; the first new one follows an
// EXT-X-DISCONTINUITY with the wall clock, and its decode times go on from
// where the wall clock says the track is, so that a player keeps one time
// line across the restart. A new sender whose parameter sets differ gets a
// new init segment, named in an EXT-X-MAP before its first segment (as a
// camera turning mid-recording does, segment.go).

// pdtLayout is how the playlist writes EXT-X-PROGRAM-DATE-TIME.
const pdtLayout = "2006-01-02T15:04:05.000Z"

// maxResumeSegments bounds what a resumed playlist may list (a 3-hour
// recording of 4-second segments has 2,700).
const maxResumeSegments = 1 << 20

// parsedPlaylist is what parsePlaylist understood of a playlist.
type parsedPlaylist struct {
	segs  []segInfo
	ended bool
	// hasMap: the playlist names init segments (fMP4); one without is
	// of MPEG-TS segments.
	hasMap bool
}

// Bounds on the EXT-X-AGORA-* tags kept from a resumed playlist.
const (
	maxTagLen     = 256
	maxTagsPerSeg = 8
)

// parsePlaylist reads a playlist this package wrote. It is strict about
// what it keeps (a segment name must be a plain file name, a duration a
// finite non-negative number) because a damaged file must not name files
// outside the track's directory.
func parsePlaylist(b []byte, defaultMap string) (parsedPlaylist, error) {
	var out parsedPlaylist
	mapName := defaultMap
	var dur time.Duration
	var pdt time.Time
	havePDT, haveDur, disc := false, false, false
	var tags []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MAP:URI="):
			v, err := strconv.Unquote(strings.TrimPrefix(line, "#EXT-X-MAP:URI="))
			if err != nil || !plainName(v) {
				return out, fmt.Errorf("%w: bad EXT-X-MAP", ErrPlaylist)
			}
			mapName = v
			out.hasMap = true
		case strings.HasPrefix(line, "#EXT-X-AGORA-"):
			// Agora's tags in an MPEG-TS playlist stay with their segment.
			if len(line) > maxTagLen || len(tags) >= maxTagsPerSeg || !printable(line) {
				return out, fmt.Errorf("%w: bad tag %.40q", ErrPlaylist, line)
			}
			tags = append(tags, line)
		case line == "#EXT-X-DISCONTINUITY":
			disc = true
		case line == "#EXT-X-ENDLIST":
			out.ended = true
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			t, err := time.Parse(pdtLayout, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			if err != nil {
				return out, fmt.Errorf("%w: bad date: %w", ErrPlaylist, err)
			}
			pdt, havePDT = t, true
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || sec < 0 || sec > 24*3600 {
				return out, fmt.Errorf("%w: bad EXTINF %q", ErrPlaylist, v)
			}
			dur, haveDur = time.Duration(sec*float64(time.Second)).Round(time.Millisecond), true
		case strings.HasPrefix(line, "#"):
			// Header tags: rewritten from the segments.
		default:
			if !haveDur || !plainName(line) {
				return out, fmt.Errorf("%w: bad segment line %q", ErrPlaylist, line)
			}
			if len(out.segs) >= maxResumeSegments {
				return out, fmt.Errorf("%w: more than %d segments", ErrPlaylist, maxResumeSegments)
			}
			var start time.Time
			switch {
			case havePDT:
				start = pdt
			case len(out.segs) > 0:
				prev := out.segs[len(out.segs)-1]
				start = prev.start.Add(prev.dur)
			default:
				return out, fmt.Errorf("%w: first segment without a date", ErrPlaylist)
			}
			out.segs = append(out.segs, segInfo{name: line, dur: dur, start: start, disc: disc, mapName: mapName, tags: tags})
			havePDT, haveDur, disc, tags = false, false, false, nil
		}
	}
	return out, nil
}

// printable reports whether s is printable ASCII.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// plainName reports whether s names a file inside the track's directory.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

// load takes over the playlist an earlier run left, if any.
func (s *segmenter) load() error {
	name := s.t.cfg.Name + ".m3u8"
	b, err := os.ReadFile(filepath.Join(s.t.cfg.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hls: resume %s: %w", name, err)
	}
	pl, err := parsePlaylist(b, s.initName)
	if err != nil {
		return fmt.Errorf("hls: resume %s: %w", name, err)
	}
	if len(pl.segs) == 0 {
		return nil
	}
	if s.t.ts != nil || !pl.hasMap {
		return s.loadTS(name, pl)
	}
	last := pl.segs[len(pl.segs)-1].mapName
	init, err := os.ReadFile(filepath.Join(s.t.cfg.Dir, last))
	if err != nil {
		return fmt.Errorf("hls: resume %s: init segment: %w", name, err)
	}
	s.segs = pl.segs
	s.seq = uint32(len(pl.segs))
	for _, sg := range pl.segs {
		s.written += sg.dur
	}
	s.origin, s.hasOrigin = pl.segs[0].start, true
	// initDone stays false: the new sender's parameter sets decide the
	// init segment, which is the old one if they are the same.
	s.initName, s.initBytes, s.prevInit = last, init, init
	s.disc = true
	s.resumed, s.took = true, true
	return nil
}

// loadTS takes over a playlist of MPEG-TS segments (no EXT-X-MAP). A
// track writing fMP4 cannot continue it, nor a TS track an fMP4 one:
// the two would not play as one stream. EndPlaylist, which writes
// nothing, takes either.
func (s *segmenter) loadTS(name string, pl parsedPlaylist) error {
	switch {
	case pl.hasMap:
		return fmt.Errorf("hls: resume %s: %w: it lists fMP4 segments", name, ErrPlaylist)
	case s.t.ts == nil && !s.t.closed:
		return fmt.Errorf("hls: resume %s: %w: it lists MPEG-TS segments", name, ErrPlaylist)
	case s.t.ts == nil:
		s.t.ts = &tsState{}
	}
	for i := range pl.segs {
		pl.segs[i].mapName = ""
	}
	s.segs = pl.segs
	s.seq = uint32(len(pl.segs))
	for _, sg := range pl.segs {
		s.written += sg.dur
	}
	s.origin, s.hasOrigin = pl.segs[0].start, true
	s.disc = true
	s.t.ts.event = true
	s.resumed, s.took = true, true
	return nil
}

// initFor names the init segment encoded as b: the track's first is
// Name_init.mp4; after a resume the earlier run's name if the content is
// the same; any other (a resumed sender with other parameter sets, a
// camera that turned) is named after the segment it comes before, so that
// no name is used for two contents.
func (s *segmenter) initFor(b []byte) (name string, write bool) {
	switch {
	case !s.initDone && s.prevInit == nil:
		return s.initName, true
	case !s.initDone && bytes.Equal(b, s.prevInit):
		return s.initName, false
	}
	return fmt.Sprintf("%s_init_%d.mp4", s.t.cfg.Name, s.seq+1), true
}

// resumeClock places the first packet after a resume on the wall clock:
// its decode time is how long after the track's origin it arrived, so
// that the time line runs on across the restart.
func (t *Track) resumeClock(at time.Time) {
	if !t.seg.resumed {
		return
	}
	t.seg.resumed = false
	ms := int64(at.Sub(t.seg.origin) / time.Millisecond)
	if d := ms * t.seg.timescale / 1000; d > t.lastDTS {
		t.lastDTS = d
	}
}

// EndPlaylist ends the playlist Name.m3u8 an earlier run left in cfg.Dir,
// for a track no sender came back to: its end marker and, with cfg.MP4,
// its MP4s, each reported through cfg.OnFile. Nothing new goes into the
// track, so Kind, Codec and the clock are not needed (the earlier run may
// have recorded any codec) and Resume is implied. It returns ErrNoMedia
// if there is no such playlist or it lists no segment.
func EndPlaylist(cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	t := &Track{cfg: cfg, log: cfg.Log.With("component", "hls", "track", cfg.Name), closed: true}
	t.seg = newSegmenter(t)
	if err := t.seg.load(); err != nil {
		return err
	}
	if len(t.seg.segs) == 0 {
		return ErrNoMedia
	}
	return t.seg.finish()
}

// Resumed reports whether the track took over an earlier run's playlist.
func (t *Track) Resumed() bool { return t.seg.took }

// Suspend ends the track for a restart: what is buffered becomes a last
// segment and the playlist is left open (no end marker, no MP4), so that
// a track made with Config.Resume in the next run continues it. The track
// cannot be used afterwards.
func (t *Track) Suspend() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	if t.inBound {
		errs = append(errs, t.rb.Flush(t.inSSRC, t.sink()))
	}
	if t.video != nil {
		errs = append(errs, t.endVideoFrame(true), t.flushVideo())
	}
	errs = append(errs, t.seg.flush())
	return errors.Join(errs...)
}
