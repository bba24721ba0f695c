package hls

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/storage"
)

// sample is one access unit (video) or Opus packet (audio) in track time.
type sample struct {
	dts, dur int64
	key      bool
	data     []byte
	at       time.Time // arrival, for the wall clock of the first sample
}

type segInfo struct {
	name  string
	dur   time.Duration
	start time.Time
	// disc: media before this segment is missing (a write failed), so the
	// playlist marks it EXT-X-DISCONTINUITY.
	disc bool
	// mapName is the segment's init segment.
	mapName string
}

// segmenter cuts samples into fMP4 media segments and keeps the playlist.
type segmenter struct {
	t         *Track
	timescale int64
	initDone  bool
	initName  string
	initBytes []byte
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
}

func newSegmenter(t *Track) *segmenter {
	return &segmenter{t: t, timescale: int64(t.cfg.ClockRate), initName: t.cfg.Name + "_init.mp4"}
}

func (s *segmenter) writeVideoInit(sps, pps []byte) error {
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(uint32(s.timescale), "video", "und")
	if err := trak.SetAVCDescriptor("avc1", [][]byte{sps}, [][]byte{pps}, true); err != nil {
		return fmt.Errorf("%w: avcC: %w", errParams, err)
	}
	return s.writeInit(init)
}

func (s *segmenter) writeAudioInit(channels int) error {
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(uint32(s.timescale), "audio", "und")
	dops := &mp4.DopsBox{OutputChannelCount: byte(channels), InputSampleRate: opusRate}
	entry := mp4.CreateAudioSampleEntryBox("Opus", uint16(channels), 16, opusRate, dops)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	return s.writeInit(init)
}

func (s *segmenter) writeInit(init *mp4.InitSegment) error {
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		return fmt.Errorf("hls: encode init: %w", err)
	}
	name, write := s.initFor(buf.Bytes())
	path := filepath.Join(s.t.cfg.Dir, name)
	if write {
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return err
		}
	}
	s.initDone, s.initName, s.initBytes = true, name, buf.Bytes()
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
	if len(s.cur) > 0 && (smp.key || s.t.audio != nil) &&
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
	var total int64
	s.seq++
	frag, err := mp4.CreateFragment(s.seq, 1)
	if err != nil {
		return fmt.Errorf("hls: fragment: %w", err)
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
		return fmt.Errorf("hls: encode segment: %w", err)
	}
	start := s.origin.Add(s.ticks(first.dts))
	name := s.t.cfg.Name + "_" + utcName(start) + ".m4s"
	for _, prev := range s.segs {
		if prev.name == name {
			name = fmt.Sprintf("%s_%s_%d.m4s", s.t.cfg.Name, utcName(start), s.seq)
		}
	}
	path := filepath.Join(s.t.cfg.Dir, name)
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return err
	}
	dur := s.ticks(total)
	s.segs = append(s.segs, segInfo{name: name, dur: dur, start: start, disc: s.disc, mapName: s.initName})
	s.disc = false
	s.written += dur
	s.cur = s.cur[:0]
	s.t.emit(File{Kind: FileSegment, Name: name, Path: path, Start: start, Duration: dur})
	return s.writePlaylist(false)
}

func (s *segmenter) writePlaylist(end bool) error {
	var b strings.Builder
	target := 1
	for _, sg := range s.segs {
		if n := int(math.Ceil(sg.dur.Seconds())); n > target {
			target = n
		}
	}
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", target)
	b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, sg := range s.segs {
		if sg.disc && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if i == 0 || sg.mapName != s.segs[i-1].mapName {
			// After a resume the new sender may have other parameter
			// sets, hence another init segment.
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
	name := s.t.cfg.Name + ".m3u8"
	path := filepath.Join(s.t.cfg.Dir, name)
	if err := writeFileAtomic(path, []byte(b.String())); err != nil {
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
	if s.t.cfg.MP4 {
		return s.writeMP4()
	}
	return nil
}

// writeMP4 joins the init segment and every media segment: a fragmented
// MP4 is exactly that.
func (s *segmenter) writeMP4() error {
	// Only segments of the current init segment fit it: if a resume
	// brought other parameter sets, the MP4 starts at the resume (the
	// playlist keeps everything).
	segs := s.segs
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].mapName != s.initName {
			s.t.log.Warn("mp4 starts after a resume: the stream's parameters changed", "segments_left_out", i+1)
			segs = segs[i+1:]
			break
		}
	}
	if len(segs) == 0 {
		return nil
	}
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
	if _, err := f.Write(s.initBytes); err != nil {
		return fmt.Errorf("hls: write mp4: %w", err)
	}
	for _, sg := range segs {
		in, err := os.Open(filepath.Join(s.t.cfg.Dir, sg.name))
		if err != nil {
			return fmt.Errorf("hls: read segment: %w", err)
		}
		_, err = io.Copy(f, in)
		_ = in.Close()
		if err != nil {
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
