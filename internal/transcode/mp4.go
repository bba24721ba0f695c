package transcode

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
	"github.com/ars-project/ars/internal/vcodec/mp4entry"
)

// movieTimescale is the mvhd timescale: edit lists and track headers count
// in milliseconds, which is finer than any sync error that matters.
const movieTimescale = 1000

// mp4Track is one finished track ready to be written.
type mp4Track struct {
	handler string // "vide" media type for mp4ff: "video" or "audio"
	tab     *sampleTable
	delay   time.Duration // where the track starts in the movie
	entry   mp4.Box       // the sample entry (avc1/avc3, vp08, vp09, av01 or Opus)
	width   int
	height  int
	// offset is where the track starts within its media's time (a video
	// part shown in another orientation starts later).
	offset time.Duration
	// orientation is how a video track is displayed (its tkhd matrix).
	orientation vcodec.Orientation
}

func (t *mp4Track) mediaDuration() time.Duration {
	return ticksToDuration(t.tab.total, t.tab.timescale)
}

func ticksToDuration(ticks, timescale int64) time.Duration {
	if timescale <= 0 {
		return 0
	}
	secs, rem := ticks/timescale, ticks%timescale
	return time.Duration(secs)*time.Second + time.Duration(rem)*time.Second/time.Duration(timescale)
}

func toMovie(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

// writeMP4 writes ftyp, moov and mdat (the spool) to dst: the moov box
// comes first so that players can start before the whole file is read.
func writeMP4(dst string, sp *spool, tracks []mp4Track, created time.Time, brands []string) (int64, error) {
	moov, offsets, err := buildMoov(tracks, created, sp.off)
	if err != nil {
		return 0, err
	}
	ftyp := mp4.NewFtyp("isom", 0x200, brands)
	mdatHeader := uint64(8)
	if sp.off+8 > math.MaxUint32 {
		mdatHeader = 16
	}
	base := ftyp.Size() + moov.Size() + mdatHeader
	for _, o := range offsets {
		o.shift(base)
	}

	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, storage.FileMode)
	if err != nil {
		return 0, fmt.Errorf("create mp4: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(dst)
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	if err := ftyp.Encode(w); err != nil {
		return 0, fmt.Errorf("write ftyp: %w", err)
	}
	if err := moov.Encode(w); err != nil {
		return 0, fmt.Errorf("write moov: %w", err)
	}
	var hdr []byte
	if mdatHeader == 8 {
		hdr = binary.BigEndian.AppendUint32(nil, uint32(8+sp.off))
		hdr = append(hdr, "mdat"...)
	} else {
		hdr = binary.BigEndian.AppendUint32(nil, 1)
		hdr = append(hdr, "mdat"...)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(16+sp.off))
	}
	if _, err := w.Write(hdr); err != nil {
		return 0, fmt.Errorf("write mdat: %w", err)
	}
	if err := sp.copyTo(w); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("write mp4: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync mp4: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close mp4: %w", err)
	}
	ok = true
	return int64(base) + sp.off, nil
}

// chunkOffsets is a track's chunk offset table, patched once the size of
// everything before mdat is known.
type chunkOffsets struct {
	stco *mp4.StcoBox
	co64 *mp4.Co64Box
}

func (c chunkOffsets) shift(base uint64) {
	if c.stco != nil {
		for i := range c.stco.ChunkOffset {
			c.stco.ChunkOffset[i] += uint32(base)
		}
		return
	}
	for i := range c.co64.ChunkOffset {
		c.co64.ChunkOffset[i] += base
	}
}

func buildMoov(tracks []mp4Track, created time.Time, dataSize int64) (*mp4.MoovBox, []chunkOffsets, error) {
	// 32-bit chunk offsets suffice unless the file passes 4 GiB; the moov
	// itself is far below the margin.
	large := dataSize > math.MaxUint32-(64<<20)
	moov := mp4.NewMoovBox()
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = movieTimescale
	mvhd.SetCreationTimeS(created.Unix())
	mvhd.SetModificationTimeS(created.Unix())
	mvhd.NextTrackID = uint32(len(tracks) + 1)
	moov.AddChild(mvhd)
	var offsets []chunkOffsets
	for i := range tracks {
		t := &tracks[i]
		movieDur := toMovie(t.delay) + toMovie(t.mediaDuration())
		if movieDur > mvhd.Duration {
			mvhd.Duration = movieDur
		}
		trak, off, err := buildTrak(uint32(i+1), t, created, large)
		if err != nil {
			return nil, nil, err
		}
		moov.AddChild(trak)
		offsets = append(offsets, off)
	}
	if mvhd.Duration > math.MaxUint32 {
		mvhd.Version = 1
	}
	return moov, offsets, nil
}

func buildTrak(id uint32, t *mp4Track, created time.Time, large bool) (*mp4.TrakBox, chunkOffsets, error) {
	trak := mp4.NewTrakBox()
	tkhd := mp4.CreateTkhd()
	tkhd.TrackID = id
	tkhd.SetCreationTimeS(created.Unix())
	tkhd.SetModificationTimeS(created.Unix())
	mediaMovie := toMovie(t.mediaDuration())
	tkhd.Duration = toMovie(t.delay) + mediaMovie
	if tkhd.Duration > math.MaxUint32 {
		tkhd.Version = 1
	}
	if t.handler == "audio" {
		tkhd.Volume = 0x0100
		tkhd.AlternateGroup = 1
	} else {
		tkhd.Width = mp4.Fixed32(t.width << 16)
		tkhd.Height = mp4.Fixed32(t.height << 16)
	}
	if t.handler == "video" && t.orientation.Turned() {
		rotated, err := mp4entry.WithMatrix(tkhd, t.orientation.Matrix(t.width, t.height))
		if err != nil {
			return nil, chunkOffsets{}, err
		}
		trak.AddChild(rotated)
	} else {
		trak.AddChild(tkhd)
	}

	// The edit list places the track on the movie timeline: an empty edit
	// for the time before its first sample, then the whole media.
	elst := &mp4.ElstBox{}
	if d := toMovie(t.delay); d > 0 {
		elst.Entries = append(elst.Entries, mp4.ElstEntry{SegmentDuration: d, MediaTime: -1, MediaRateInteger: 1})
	}
	elst.Entries = append(elst.Entries, mp4.ElstEntry{SegmentDuration: mediaMovie, MediaTime: 0, MediaRateInteger: 1})
	if tkhd.Duration > math.MaxUint32 {
		elst.Version = 1
	}
	edts := &mp4.EdtsBox{}
	edts.AddChild(elst)
	trak.AddChild(edts)

	mdia := &mp4.MdiaBox{}
	mdhd := &mp4.MdhdBox{Timescale: uint32(t.tab.timescale), Duration: uint64(t.tab.total)}
	mdhd.SetCreationTimeS(created.Unix())
	mdhd.SetModificationTimeS(created.Unix())
	if mdhd.Duration > math.MaxUint32 {
		mdhd.Version = 1
	}
	mdhd.SetLanguage("und")
	mdia.AddChild(mdhd)
	hdlr, err := mp4.CreateHdlr(t.handler)
	if err != nil {
		return nil, chunkOffsets{}, fmt.Errorf("hdlr: %w", err)
	}
	mdia.AddChild(hdlr)
	minf := mp4.NewMinfBox()
	if t.handler == "audio" {
		minf.AddChild(mp4.CreateSmhd())
	} else {
		minf.AddChild(mp4.CreateVmhd())
	}
	dinf := &mp4.DinfBox{}
	dinf.AddChild(mp4.CreateDref())
	minf.AddChild(dinf)
	stbl, off := buildStbl(t, large)
	minf.AddChild(stbl)
	mdia.AddChild(minf)
	trak.AddChild(mdia)
	return trak, off, nil
}

func buildStbl(t *mp4Track, large bool) (*mp4.StblBox, chunkOffsets) {
	tab := t.tab
	stbl := mp4.NewStblBox()
	stsd := mp4.NewStsdBox()
	stsd.AddChild(t.entry)
	stbl.AddChild(stsd)

	stts := &mp4.SttsBox{}
	for _, d := range tab.durs {
		if n := len(stts.SampleTimeDelta); n > 0 && stts.SampleTimeDelta[n-1] == d {
			stts.SampleCount[n-1]++
			continue
		}
		stts.SampleCount = append(stts.SampleCount, 1)
		stts.SampleTimeDelta = append(stts.SampleTimeDelta, d)
	}
	stbl.AddChild(stts)

	stsc := &mp4.StscBox{}
	for i, c := range tab.chunks {
		if n := len(stsc.Entries); n > 0 && stsc.Entries[n-1].SamplesPerChunk == c.n {
			continue
		}
		_ = stsc.AddEntry(uint32(i+1), c.n, 1)
	}
	stbl.AddChild(stsc)

	stsz := &mp4.StszBox{SampleNumber: uint32(len(tab.sizes))}
	uniform := true
	for _, s := range tab.sizes {
		if s != tab.sizes[0] {
			uniform = false
			break
		}
	}
	if uniform && len(tab.sizes) > 0 {
		stsz.SampleUniformSize = tab.sizes[0]
	} else {
		stsz.SampleSize = tab.sizes
	}
	stbl.AddChild(stsz)

	if !tab.allSync {
		stbl.AddChild(&mp4.StssBox{SampleNumber: tab.syncs})
	}

	var off chunkOffsets
	if large {
		off.co64 = &mp4.Co64Box{ChunkOffset: make([]uint64, len(tab.chunks))}
		for i, c := range tab.chunks {
			off.co64.ChunkOffset[i] = uint64(c.offset)
		}
		stbl.AddChild(off.co64)
	} else {
		off.stco = &mp4.StcoBox{ChunkOffset: make([]uint32, len(tab.chunks))}
		for i, c := range tab.chunks {
			off.stco.ChunkOffset[i] = uint32(c.offset)
		}
		stbl.AddChild(off.stco)
	}
	return stbl, off
}
