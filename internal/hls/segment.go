package hls

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// sample is one picture (video) or Opus packet (audio) in track time.
type sample struct {
	dts, dur int64
	key      bool
	data     []byte
	at       time.Time // arrival, for the wall clock of the first sample
	// init, on a video keyframe, is the init segment it starts: the
	// first one, or a new one because the camera turned.
	init *initSeg
}

// initSeg is an encoded init segment and the orientation it shows.
type initSeg struct {
	data []byte
	o    vcodec.Orientation
}

type segInfo struct {
	name  string
	dur   time.Duration
	start time.Time
	// disc: media before this segment is missing (a write failed, or a
	// restart), or the segment starts a new init segment (the camera
	// turned), so the playlist marks it EXT-X-DISCONTINUITY.
	disc bool
	// mapName is the segment's init segment (fMP4 only).
	mapName string
	// tags are Agora's EXT-X-AGORA-* lines before the segment (MPEG-TS
	// only): the stream starting, the video turning.
	tags []string
}

// segmenter cuts samples into media segments (fMP4, or MPEG-TS for a
// track with a tsState) and keeps the playlist.
type segmenter struct {
	t         *Track
	timescale int64
	initDone  bool
	initName  string
	initBytes []byte
	// initO is the orientation the current init segment shows.
	initO     vcodec.Orientation
	origin    time.Time // wall clock of track time 0
	hasOrigin bool
	cur       []sample
	segs      []segInfo
	seq       uint32
	written   time.Duration
	// disc is set after a failed write: the next segment follows a gap.
	disc bool
	// prevInit is the init segment of the run a resumed track took over
	// (resume.go); resumed is set until the first packet is placed.
	prevInit []byte
	resumed  bool
	// took: the track continues an earlier run's playlist.
	took bool
	// plBuf holds the MPEG-TS playlist's text between rewrites.
	plBuf []byte
	// peak is the highest bit rate of a segment written (Bandwidth).
	peak int
}

func newSegmenter(t *Track) *segmenter {
	return &segmenter{t: t, timescale: int64(t.cfg.ClockRate), initName: t.cfg.Name + "_init.mp4"}
}

func (s *segmenter) writeAudioInit(channels int) error {
	if s.t.ts != nil {
		return s.writeInit(&initSeg{})
	}
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(uint32(s.timescale), "audio", "und")
	dops := &mp4.DopsBox{OutputChannelCount: byte(channels), InputSampleRate: opusRate}
	entry := mp4.CreateAudioSampleEntryBox("Opus", uint16(channels), 16, opusRate, dops)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	b, err := encodeInit(init)
	if err != nil {
		return err
	}
	return s.writeInit(&initSeg{data: b})
}

func encodeInit(init *mp4.InitSegment) ([]byte, error) {
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		return nil, fmt.Errorf("hls: encode init: %w", err)
	}
	return buf.Bytes(), nil
}

// writeInit makes in the init segment of the segments that follow (after
// a resume, the earlier run's file if it is the same).
func (s *segmenter) writeInit(in *initSeg) error {
	if ts := s.t.ts; ts != nil {
		// MPEG-TS carries its configuration in band: no file, but the
		// playlist says how the picture is turned.
		s.initDone, s.initO = true, in.o
		if s.t.video != nil {
			ts.rotate = s.t.rotateTag(in.o)
		}
		return nil
	}
	name, write := s.initFor(in.data)
	path := filepath.Join(s.t.cfg.Dir, name)
	if write {
		if err := writeFileAtomic(path, in.data); err != nil {
			return err
		}
	}
	s.initDone, s.initName, s.initBytes, s.initO = true, name, in.data, in.o
	if write {
		s.t.emit(File{Kind: FileInit, Name: name, Path: path})
	}
	return nil
}

func (s *segmenter) add(smp sample) error {
	if !s.hasOrigin {
		s.origin = smp.at.Add(-s.ticks(smp.dts))
		s.hasOrigin = true
	}
	if smp.init != nil {
		// A new init segment starts a new segment, which the playlist
		// lists after a discontinuity with its own EXT-X-MAP.
		if err := s.flush(); err != nil {
			return err
		}
		if s.initDone {
			s.disc = true
		}
		if err := s.writeInit(smp.init); err != nil {
			return err
		}
	} else if len(s.cur) > 0 && (smp.key || s.t.audio != nil) &&
		s.ticks(smp.dts-s.cur[0].dts) >= s.t.cfg.SegmentDuration {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.cur = append(s.cur, smp)
	return nil
}

func (s *segmenter) ticks(n int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(s.timescale)
}

// utcName is Agora's slice time format: UTC down to milliseconds.
func utcName(t time.Time) string {
	t = t.UTC()
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
}

// flush writes the current samples as one media segment and rewrites the
// playlist.
func (s *segmenter) flush() error {
	if len(s.cur) == 0 {
		return nil
	}
	if !s.initDone {
		s.cur = s.cur[:0]
		return nil
	}
	first := s.cur[0]
	s.seq++
	var data []byte
	var total int64
	var err error
	ext := ".m4s"
	if s.t.ts != nil {
		data, total, err = s.t.tsSegment(s.cur)
		ext = ".ts"
		if err == nil && s.disc {
			s.t.ts.markDiscontinuity(data)
		}
	} else {
		data, total, err = s.fmp4Segment()
	}
	if err != nil {
		return err
	}
	start := s.origin.Add(s.ticks(first.dts))
	name := s.t.cfg.Name + "_" + utcName(start) + ext
	for _, prev := range s.segs {
		if prev.name == name {
			name = fmt.Sprintf("%s_%s_%d%s", s.t.cfg.Name, utcName(start), s.seq, ext)
		}
	}
	path := filepath.Join(s.t.cfg.Dir, name)
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	dur := s.ticks(total)
	s.noteRate(len(data), dur)
	info := segInfo{name: name, dur: dur, start: start, disc: s.disc, mapName: s.initName}
	if ts := s.t.ts; ts != nil {
		info.mapName = ""
		if ts.rotate != "" {
			info.tags = append(info.tags, ts.rotate+",TIME="+utcName(start))
			ts.rotate = ""
		}
		if ts.event {
			kind := "AUDIO"
			if s.t.video != nil {
				kind = "VIDEO"
			}
			info.tags = append(info.tags, "#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE="+kind+",TIME="+utcName(start))
			ts.event = false
		}
	}
	s.segs = append(s.segs, info)
	s.disc = false
	s.written += dur
	s.cur = s.cur[:0]
	s.t.emit(File{Kind: FileSegment, Name: name, Path: path, Start: start, Duration: dur})
	return s.writePlaylist(false)
}

// fmp4Segment encodes the current samples as one fMP4 media segment.
func (s *segmenter) fmp4Segment() ([]byte, int64, error) {
	var total int64
	frag, err := mp4.CreateFragment(s.seq, 1)
	if err != nil {
		return nil, 0, fmt.Errorf("hls: fragment: %w", err)
	}
	for _, smp := range s.cur {
		flags := mp4.NonSyncSampleFlags
		if smp.key {
			flags = mp4.SyncSampleFlags
		}
		dur := smp.dur
		if dur <= 0 || dur > math.MaxUint32 {
			dur = 1
		}
		total += dur
		frag.AddFullSample(mp4.FullSample{
			Sample:     mp4.Sample{Flags: flags, Dur: uint32(dur), Size: uint32(len(smp.data))},
			DecodeTime: uint64(smp.dts),
			Data:       smp.data,
		})
	}
	seg := mp4.NewMediaSegmentWithoutStyp()
	seg.AddFragment(frag)
	var buf bytes.Buffer
	if err := seg.Encode(&buf); err != nil {
		return nil, 0, fmt.Errorf("hls: encode segment: %w", err)
	}
	return buf.Bytes(), total, nil
}

func (s *segmenter) writePlaylist(end bool) error {
	var b strings.Builder
	target := 1
	for _, sg := range s.segs {
		if n := int(math.Ceil(sg.dur.Seconds())); n > target {
			target = n
		}
	}
	if s.t.ts != nil {
		return s.savePlaylist(s.tsPlaylist(target, end))
	}
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", target)
	b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, sg := range s.segs {
		if sg.disc && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if i == 0 || sg.mapName != s.segs[i-1].mapName {
			// A new init segment: after a resume the new sender may
			// have other parameter sets, and a turned camera another
			// display matrix.
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", sg.mapName)
		}
		if i == 0 || sg.disc {
			// After a gap the wall clock is given again: a player placing
			// segments by date sees where the media resumes.
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", sg.start.UTC().Format(pdtLayout))
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", sg.dur.Seconds(), sg.name)
	}
	if end {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return s.savePlaylist([]byte(b.String()))
}

// tsPlaylist is the playlist of MPEG-TS segments, in the form of Agora's
// (version 3, its header tags, a discontinuity before each run of
// segments, its EXT-X-AGORA-* tags), with a comma after each EXTINF
// (which Agora adds only with its correctEXTINF parameter, as players
// need it) and the wall clock where a run starts, which a resumed track
// reads back.
func (s *segmenter) tsPlaylist(target int, end bool) []byte {
	// Appended into a buffer the track keeps: the playlist is rewritten
	// after every segment and grows with the recording.
	b := append(s.plBuf[:0], "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(target), 10)
	b = append(b, '\n')
	for i, sg := range s.segs {
		if i == 0 || sg.disc {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		for _, tag := range sg.tags {
			b = append(append(b, tag...), '\n')
		}
		if i == 0 || sg.disc {
			b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
			b = append(sg.start.UTC().AppendFormat(b, pdtLayout), '\n')
		}
		b = append(b, "#EXTINF:"...)
		b = strconv.AppendFloat(b, sg.dur.Seconds(), 'f', 6, 64)
		b = append(append(append(b, ",\n"...), sg.name...), '\n')
	}
	if end {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	s.plBuf = b
	return b
}

// savePlaylist writes the playlist text and reports it.
func (s *segmenter) savePlaylist(text []byte) error {
	name := s.t.cfg.Name + ".m3u8"
	path := filepath.Join(s.t.cfg.Dir, name)
	if err := writeFileAtomic(path, text); err != nil {
		return err
	}
	var start time.Time
	if len(s.segs) > 0 {
		start = s.segs[0].start
	}
	s.t.emit(File{Kind: FilePlaylist, Name: name, Path: path, Start: start, Duration: s.written})
	return nil
}

// finish writes the last segment, closes the playlist and builds the MP4.
func (s *segmenter) finish() error {
	if err := s.flush(); err != nil {
		return err
	}
	if len(s.segs) == 0 {
		return nil
	}
	if err := s.writePlaylist(true); err != nil {
		return err
	}
	if s.t.cfg.MP4 && s.t.ts == nil {
		return s.writeMP4()
	}
	return nil
}

// writeMP4 joins an init segment and its media segments: a fragmented
// MP4 is exactly that. Segments of another init segment do not fit it
// (a resumed sender with other parameter sets, or a camera that turned:
// a track has one display matrix), so each run of segments sharing an
// init segment becomes an MP4 of its own, named by its start, rather
// than one MP4 losing what came before the change.
func (s *segmenter) writeMP4() error {
	var runs [][]segInfo
	for i, sg := range s.segs {
		if i == 0 || sg.mapName != s.segs[i-1].mapName {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], sg)
	}
	if len(runs) > 1 {
		s.t.log.Info("the track's parameters changed: one MP4 per init segment", "mp4s", len(runs))
	}
	for _, run := range runs {
		init := s.initBytes
		if run[0].mapName != s.initName {
			b, err := os.ReadFile(filepath.Join(s.t.cfg.Dir, run[0].mapName))
			if err != nil {
				// An earlier run's file removed by hand: its segments
				// cannot make an MP4, the others still can.
				s.t.log.Warn("mp4 of a part left out: its init segment cannot be read", "init", run[0].mapName,
					"segments", len(run), "error", err)
				continue
			}
			init = b
		}
		if err := s.writeRunMP4(init, run); err != nil {
			return err
		}
	}
	return nil
}

// writeRunMP4 writes one MP4 of init and segs. Its decode times start at
// 0, as a file of its own should (the name gives its wall-clock start):
// a run after the first continues the playlist's time line, which in the
// MP4 would be a blank stretch before the first picture.
func (s *segmenter) writeRunMP4(init []byte, segs []segInfo) error {
	var dur time.Duration
	for _, sg := range segs {
		dur += sg.dur
	}
	name := s.t.cfg.Name + "_" + utcName(segs[0].start) + ".mp4"
	path := filepath.Join(s.t.cfg.Dir, name)
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, storage.FileMode)
	if err != nil {
		return fmt.Errorf("hls: create mp4: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(init); err != nil {
		return fmt.Errorf("hls: write mp4: %w", err)
	}
	var base uint64
	for i, sg := range segs {
		b, err := os.ReadFile(filepath.Join(s.t.cfg.Dir, sg.name))
		if err != nil {
			return fmt.Errorf("hls: read segment: %w", err)
		}
		if i == 0 {
			if base, err = decodeTime(b); err != nil {
				return fmt.Errorf("hls: segment %s: %w", sg.name, err)
			}
		}
		if base != 0 {
			if b, err = shiftDecodeTimes(b, base); err != nil {
				return fmt.Errorf("hls: segment %s: %w", sg.name, err)
			}
		}
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("hls: write mp4: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hls: close mp4: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hls: rename mp4: %w", err)
	}
	ok = true
	s.t.emit(File{Kind: FileMP4, Name: name, Path: path, Start: segs[0].start, Duration: dur})
	return nil
}

// fragments decodes a media segment this package wrote.
func fragments(b []byte) ([]*mp4.Fragment, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var frags []*mp4.Fragment
	for _, seg := range f.Segments {
		for _, fr := range seg.Fragments {
			if fr.Moof == nil || fr.Moof.Traf == nil || fr.Moof.Traf.Tfdt == nil {
				return nil, errors.New("fragment without a decode time")
			}
			frags = append(frags, fr)
		}
	}
	if len(frags) == 0 {
		return nil, errors.New("no fragment")
	}
	return frags, nil
}

// decodeTime is the decode time of a media segment's first sample.
func decodeTime(b []byte) (uint64, error) {
	frags, err := fragments(b)
	if err != nil {
		return 0, err
	}
	return frags[0].Moof.Traf.Tfdt.BaseMediaDecodeTime(), nil
}

// shiftDecodeTimes returns the media segment b with base subtracted from
// its decode times.
func shiftDecodeTimes(b []byte, base uint64) ([]byte, error) {
	frags, err := fragments(b)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b))
	for _, fr := range frags {
		tfdt := fr.Moof.Traf.Tfdt
		t := tfdt.BaseMediaDecodeTime()
		if t < base {
			return nil, fmt.Errorf("decode time %d before the run's start %d", t, base)
		}
		tfdt.SetBaseMediaDecodeTime(t - base)
		if err := fr.Encode(&out); err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
	}
	return out.Bytes(), nil
}

// writeFileAtomic replaces path with data so that a reader (or uploader)
// never sees half a file. A failed write leaves nothing behind: on a full
// disk the half-written part would hold space the next write needs.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".part"
	if err := os.WriteFile(tmp, data, storage.FileMode); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("hls: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("hls: rename %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (t *Track) emit(f File) {
	if t.cfg.OnFile != nil {
		t.cfg.OnFile(f)
	}
}

// drop removes one listed segment; what follows it follows a gap.
func (s *segmenter) drop(name string) bool {
	for i, sg := range s.segs {
		if sg.name != name {
			continue
		}
		s.written -= sg.dur
		s.segs = append(s.segs[:i], s.segs[i+1:]...)
		if i < len(s.segs) {
			s.segs[i].disc = true
		} else {
			s.disc = true
		}
		return true
	}
	return false
}
