package cloudrec

import (
	"fmt"
	"strconv"

	"github.com/ars-project/ars/internal/hls"
	"github.com/ars-project/ars/internal/storage"
)

// Individual mode's files, as Agora's recordingConfig.streamMode
// (cloud-recording/reference/stream-mode.mdx) chooses them: every mode
// writes a playlist per uid and track, video copied as it arrives; the
// default and standard modes transcode the audio to AAC, standard adds
// a master playlist per uid naming both (…__uid_e_av.m3u8), original
// keeps the audio as sent (Opus) and takes effect only for audio-only
// recordings (streamTypes 0), as Agora's does.

// Stream modes.
const (
	streamModeDefault  = "default"
	streamModeStandard = "standard"
	streamModeOriginal = "original"
)

// Segment formats of a recording's record (sessionRecord.Format).
const (
	formatTS   = "ts"
	formatFMP4 = "fmp4"
)

// trackAV is the track type of standard mode's audio+video playlist, the
// name Agora gives a file with both.
const trackAV = "audio_and_video"

// checkStreamMode checks recordingConfig.streamMode. mp4 is whether the
// request asked for MP4 files, fmp4 whether the recording's segments are
// fMP4: ars writes an individual recording's MP4 files from fMP4
// segments only, and Agora writes none in individual mode.
func checkStreamMode(v, mode string, streamTypes int, mp4, fmp4 bool) (string, *apiError) {
	if mode != modeIndividual {
		// Agora's field is individual mode's; other modes ignore it.
		return streamModeDefault, nil
	}
	switch v {
	case "", streamModeDefault:
		v = streamModeDefault
	case streamModeStandard:
	case streamModeOriginal:
		if streamTypes != 0 {
			// "takes effect only when streamTypes is 0".
			v = streamModeDefault
		}
	default:
		return "", invalid(fmt.Sprintf("recordingConfig.streamMode: %q is not default, standard or original", v))
	}
	if mp4 && !fmp4 {
		return "", invalid(`recordingFileConfig.avFileType: "mp4" in individual mode needs the server setting ` +
			`ARS_CLOUD_INDIVIDUAL_FORMAT=fmp4 (Agora writes MP4 files in mix and web modes only)`)
	}
	return v, nil
}

// container is the segment format of the recording's tracks.
func (r *recorder) container() hls.Container {
	if r.settings.fmp4 || r.mix != nil {
		return hls.ContainerFMP4
	}
	return hls.ContainerTS
}

// transcodes says whether an audio track of codec becomes AAC.
func (r *recorder) transcodes(info storage.StreamInfo) bool {
	return r.container() == hls.ContainerTS && info.Kind == storage.KindAudio &&
		info.Codec == "opus" && r.settings.streamMode != streamModeOriginal
}

// avName is the name of a uid's standard-mode master playlist.
func (r *recorder) avName(uid uint32) string {
	return trackName(r.sid, r.cname, uid, "av")
}

// writeAV (re)writes the master playlist of uid in standard mode, after
// one of its playlists was written: it names the uid's audio and video
// playlists that exist, and their codecs and peak bit rates as known now.
// It is uploaded like every playlist, so the last version, written when
// the tracks closed, is the one that stays.
func (r *recorder) writeAV(uid uint32) {
	if r.settings.streamMode != streamModeStandard || r.mix != nil {
		return
	}
	var audio, video []hls.MasterEntry
	for _, kind := range []string{storage.KindAudio, storage.KindVideo} {
		ts := r.tracks[trackKey{uid: uid, kind: kind}]
		if ts == nil || ts.t == nil || !ts.playlist {
			continue
		}
		e := ts.t.MasterEntry()
		if e.Bandwidth == 0 {
			// Not measured yet: a master playlist needs a BANDWIDTH, and
			// measuring files the uploader may have removed is not sure.
			e.Bandwidth = 1
		}
		if kind == storage.KindAudio {
			audio = append(audio, e)
		} else {
			video = append(video, e)
		}
	}
	if len(audio)+len(video) == 0 {
		return
	}
	f, err := hls.WriteMasterPlaylist(r.dir, r.avName(uid), audio, video)
	if err != nil {
		r.svc.log.Error("standard-mode playlist not written", "sid", r.sid, "uid", strconv.FormatUint(uint64(uid), 10), "error", err)
		return
	}
	r.onFile(trackKey{uid: uid, kind: trackAV}, f)
}

// writeAllAV rewrites every master playlist once the tracks are closed:
// their final playlists and bit rates.
func (r *recorder) writeAllAV() {
	if r.settings.streamMode != streamModeStandard {
		return
	}
	done := map[uint32]bool{}
	for k := range r.tracks {
		if !done[k.uid] {
			done[k.uid] = true
			r.writeAV(k.uid)
		}
	}
}
