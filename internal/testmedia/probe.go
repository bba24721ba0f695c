package testmedia

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProbeStream is what ffprobe found in one stream of a file.
type ProbeStream struct {
	Type          string // "video" or "audio"
	Codec         string // ffprobe codec_name: "h264", "opus"
	Frames        int    // decoded frames (-count_frames)
	Duration      time.Duration
	Start         time.Duration
	Width, Height int
	// Rotation is ffprobe's display-matrix rotation (counter-clockwise
	// degrees, so a picture shown turned 90 degrees clockwise is -90),
	// when the track has a display matrix.
	Rotation    int
	HasRotation bool
}

// Probe is what ffmpeg and ffprobe found in a media file.
type Probe struct {
	Streams  []ProbeStream
	Duration time.Duration // container duration
}

// Stream returns the first stream of the given type, or nil.
func (p Probe) Stream(typ string) *ProbeStream {
	for i := range p.Streams {
		if p.Streams[i].Type == typ {
			return &p.Streams[i]
		}
	}
	return nil
}

// Decode runs `ffmpeg -v error -xerror -i path -f null -` and fails the
// test unless it exits 0 with no output: ffprobe alone misses truncated
// MP4s and broken references.
func Decode(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of %s: err=%v output:\n%s", path, err, out)
	}
}

// ProbeMP4 decodes path with ffmpeg (see Decode) and counts its frames
// with ffprobe.
func ProbeMP4(t testing.TB, path string) Probe {
	t.Helper()
	RequireFFmpeg(t)
	Decode(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,nb_read_frames,duration,start_time,width,height:stream_side_data=rotation:format=duration",
		"-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: err=%v stderr:\n%s", path, err, stderr.String())
	}
	var raw struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			NbReadFrames string `json:"nb_read_frames"`
			Duration     string `json:"duration"`
			StartTime    string `json:"start_time"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			SideData     []struct {
				Rotation *int `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("ffprobe json: %v\n%s", err, out)
	}
	p := Probe{Duration: seconds(raw.Format.Duration)}
	for _, s := range raw.Streams {
		n, _ := strconv.Atoi(s.NbReadFrames)
		ps := ProbeStream{Type: s.CodecType, Codec: s.CodecName, Frames: n,
			Duration: seconds(s.Duration), Start: seconds(s.StartTime), Width: s.Width, Height: s.Height}
		for _, sd := range s.SideData {
			if sd.Rotation != nil {
				ps.Rotation, ps.HasRotation = *sd.Rotation, true
			}
		}
		p.Streams = append(p.Streams, ps)
	}
	return p
}

// FrameSizes counts decoded video frames per resolution ("WxH").
func FrameSizes(t testing.TB, path string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"frame=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames of %s: %v", path, err)
	}
	sizes := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line = strings.TrimSpace(strings.TrimSuffix(line, ",")); line != "" {
			sizes[strings.Replace(line, ",", "x", 1)]++
		}
	}
	return sizes
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
