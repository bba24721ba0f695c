package hls

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/vcodec"
)

// MasterEntry is one media playlist a master playlist names.
type MasterEntry struct {
	// Playlist is the media playlist's file name, in the master
	// playlist's directory.
	Playlist string
	// Codecs is the RFC 6381 codec of its media (Track.Codecs), or "".
	Codecs string
	// Bandwidth is its peak segment bit rate (Track.Bandwidth); 0 has
	// WriteMasterPlaylist measure the segments the playlist lists in
	// the directory.
	Bandwidth int
}

// MasterEntry describes the track for WriteMasterPlaylist.
func (t *Track) MasterEntry() MasterEntry {
	return MasterEntry{Playlist: t.Playlist(), Codecs: t.Codecs(), Bandwidth: t.Bandwidth()}
}

// Codecs is the RFC 6381 name of the track's media as a master playlist
// gives it: avc1.PPCCLL from the H.264 parameter sets, mp4a.40.2 for
// AAC, opus, vp8; "" where it is not known yet (no keyframe) or needs
// more than this package reads (VP9, AV1).
func (t *Track) Codecs() string {
	switch {
	case t.aac != nil:
		return "mp4a.40.2"
	case t.audio != nil:
		return "opus"
	case t.video.codec == vcodec.VP8:
		return "vp8"
	case t.video.codec == vcodec.H264 && len(t.video.sps) >= 4:
		return fmt.Sprintf("avc1.%02x%02x%02x", t.video.sps[1], t.video.sps[2], t.video.sps[3])
	}
	return ""
}

// Bandwidth is the peak bit rate of the segments this track wrote (HLS's
// BANDWIDTH), 0 before one.
func (t *Track) Bandwidth() int { return t.seg.peak }

// noteRate records a segment's bit rate for Bandwidth.
func (s *segmenter) noteRate(size int, dur time.Duration) {
	if dur < 100*time.Millisecond {
		// A last sliver's rate says nothing.
		dur = 100 * time.Millisecond
	}
	if r := int(math.Ceil(float64(size) * 8 / dur.Seconds())); r > s.peak {
		s.peak = r
	}
}

// WriteMasterPlaylist writes name.m3u8 in dir: the master playlist of
// Agora's standard stream mode (<sid>_<cname>__uid_s_<uid>__uid_e_av.m3u8)
// joining one user's audio and video playlists, one of each per time the
// user joined. Each entry follows a comment line "# Audio" or "# Video",
// as Agora's does (tools that patch Agora's files find the entries by
// them). The audio playlists are renditions of one EXT-X-MEDIA group,
// the first the default; each video playlist is an EXT-X-STREAM-INF
// variant using that group, so a player plays picture and sound
// together. Without video the audio playlists are the variants. Players
// take variants as alternatives, not as a sequence: a user who joined
// twice has two variants, of which a player plays one (the same holds
// for Agora's file).
func WriteMasterPlaylist(dir, name string, audio, video []MasterEntry) (File, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return File{}, fmt.Errorf("hls: bad master playlist name %q", name)
	}
	if len(audio)+len(video) == 0 {
		return File{}, ErrNoMedia
	}
	for _, e := range append(append([]MasterEntry(nil), audio...), video...) {
		if !plainName(e.Playlist) || strings.ContainsAny(e.Playlist, "\"\r\n") || strings.ContainsAny(e.Codecs, "\"\r\n") {
			return File{}, fmt.Errorf("hls: bad playlist name %q or codecs %q", e.Playlist, e.Codecs)
		}
	}
	audio, video = measured(dir, audio), measured(dir, video)
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	audioRate, audioCodecs := 0, ""
	for i, e := range audio {
		audioRate = max(audioRate, e.Bandwidth)
		if audioCodecs == "" {
			audioCodecs = e.Codecs
		}
		if len(video) == 0 {
			b.WriteString("# Audio\n")
			streamInf(&b, e.Bandwidth, e.Codecs, "")
			b.WriteString(e.Playlist + "\n")
			continue
		}
		def := "NO"
		if i == 0 {
			def = "YES"
		}
		fmt.Fprintf(&b, "# Audio\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_%d\",DEFAULT=%s,AUTOSELECT=YES,URI=%q\n",
			i+1, def, e.Playlist)
	}
	for _, e := range video {
		b.WriteString("# Video\n")
		codecs, group := e.Codecs, ""
		if len(audio) > 0 {
			group = "audio"
			if codecs != "" && audioCodecs != "" {
				codecs += "," + audioCodecs
			} else {
				// A partial list would tell a player the audio is absent.
				codecs = ""
			}
		}
		streamInf(&b, e.Bandwidth+audioRate, codecs, group)
		b.WriteString(e.Playlist + "\n")
	}
	file := name + ".m3u8"
	path := filepath.Join(dir, file)
	if err := writeFileAtomic(path, []byte(b.String())); err != nil {
		return File{}, err
	}
	return File{Kind: FilePlaylist, Name: file, Path: path}, nil
}

func streamInf(b *strings.Builder, rate int, codecs, audioGroup string) {
	fmt.Fprintf(b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", max(rate, 1))
	if codecs != "" {
		fmt.Fprintf(b, ",CODECS=%q", codecs)
	}
	if audioGroup != "" {
		fmt.Fprintf(b, ",AUDIO=%q", audioGroup)
	}
	b.WriteByte('\n')
}

// measured fills in the bandwidth of entries that have none from the
// segments their playlists list in dir (files already shipped and
// removed count as nothing).
func measured(dir string, entries []MasterEntry) []MasterEntry {
	out := append([]MasterEntry(nil), entries...)
	for i, e := range out {
		if e.Bandwidth > 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Playlist))
		if err != nil {
			continue
		}
		pl, err := parsePlaylist(b, "")
		if err != nil {
			continue
		}
		var s segmenter
		for _, sg := range pl.segs {
			if st, err := os.Stat(filepath.Join(dir, sg.name)); err == nil {
				s.noteRate(int(st.Size()), sg.dur)
			}
		}
		out[i].Bandwidth = s.peak
	}
	return out
}
