package convbench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
)

// Names of ars' own two timings.
const (
	NameInProcess = "ars transcode (in-process)"
	NameBinary    = "ars transcoder binary"
)

// Config is one conversion run.
type Config struct {
	Media   loadgen.Media
	Tracks  loadgen.Tracks
	WorkDir string
	Reps    int // conversions per tool; default 5
	// Transcoder is the cmd/transcoder binary; empty skips it.
	Transcoder string
}

// Tool is one converter's result.
type Tool struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Runs    int    `json:"runs"`
	// MediaSeconds is the media converted over all runs.
	MediaSeconds float64 `json:"mediaSeconds"`
	WallSeconds  float64 `json:"wallSeconds"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	// SpeedPerCore is media seconds per CPU second: times real time on
	// one core.
	SpeedPerCore float64 `json:"speedPerCore"`
	// SpeedWall is media seconds per wall second.
	SpeedWall float64 `json:"speedWall"`
	Output    string  `json:"output"` // what the last run wrote
	Check     string  `json:"check"`  // "ok" or what is wrong
	Err       string  `json:"error,omitempty"`
}

func (t *Tool) finish(media time.Duration) {
	t.MediaSeconds = media.Seconds() * float64(t.Runs)
	if t.CPUSeconds > 0 {
		t.SpeedPerCore = t.MediaSeconds / t.CPUSeconds
	}
	if t.WallSeconds > 0 {
		t.SpeedWall = t.MediaSeconds / t.WallSeconds
	}
}

// Run times each converter on the same media.
func Run(ctx context.Context, c Config) ([]*Tool, error) {
	if c.Reps <= 0 {
		c.Reps = 5
	}
	if err := os.MkdirAll(c.WorkDir, 0o750); err != nil {
		return nil, err
	}
	vmjr := filepath.Join(c.WorkDir, "video.mjr")
	amjr := filepath.Join(c.WorkDir, "audio.mjr")
	start := time.Now()
	if err := WriteMJR(vmjr, c.Tracks.Video, start); err != nil {
		return nil, err
	}
	if err := WriteMJR(amjr, c.Tracks.Audio, start); err != nil {
		return nil, err
	}
	media := c.Media.Duration
	var out []*Tool

	ars := &Tool{Name: NameInProcess, Command: "transcode.ConvertFile(capture, out.mp4)"}
	ars.Output = filepath.Join(c.WorkDir, "ars.mp4")
	runInProcess(ctx, ars, c.Reps, func() error {
		_, err := transcode.ConvertFile(ctx, c.Media.Capture, ars.Output)
		return err
	})
	out = append(out, ars)

	var bin *Tool
	if c.Transcoder != "" {
		bin = runTranscoderBinary(ctx, c.Transcoder, c.Media.Capture, filepath.Join(c.WorkDir, "transcoder"), c.Reps)
		out = append(out, bin)
	}

	ff := &Tool{Name: "ffmpeg -c copy", Output: filepath.Join(c.WorkDir, "ffmpeg.mp4")}
	ffArgs := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-framerate", strconv.Itoa(c.Media.Options.FPS), "-i", c.Media.VideoES, "-i", c.Media.AudioES,
		"-map", "0:v", "-map", "1:a", "-c", "copy", ff.Output}
	ff.Command = "ffmpeg " + strings.Join(ffArgs, " ")
	runCommands(ctx, ff, c.Reps, [][]string{append([]string{"ffmpeg"}, ffArgs...)})
	out = append(out, ff)

	jv, ja := filepath.Join(c.WorkDir, "janus.mp4"), filepath.Join(c.WorkDir, "janus.opus")
	jp := &Tool{Name: "janus-pp-rec (video + audio)", Output: jv + " + " + ja,
		Command: "janus-pp-rec video.mjr janus.mp4 && janus-pp-rec audio.mjr janus.opus"}
	runCommands(ctx, jp, c.Reps, [][]string{{"janus-pp-rec", vmjr, jv}, {"janus-pp-rec", amjr, ja}})
	out = append(out, jp)

	for _, t := range out {
		t.finish(media)
	}
	// Judge every output after all timing, so that checking does not
	// compete with any converter.
	ars.Check = checkMP4(ctx, ars.Output, media, true, true)
	if bin != nil && bin.Err == "" {
		bin.Check = checkMP4(ctx, bin.Output, media, true, true)
	}
	ff.Check = checkMP4(ctx, ff.Output, media, true, true)
	jp.Check = joinChecks(checkMP4(ctx, jv, media, true, false), checkMP4(ctx, ja, media, false, true))
	for _, t := range out {
		if t.Err != "" {
			t.Check = "not run: " + t.Err
		}
	}
	return out, nil
}

func joinChecks(a, b string) string {
	if a == "ok" && b == "ok" {
		return "ok"
	}
	return a + "; " + b
}

// runInProcess times f reps times, with the CPU of this whole process
// (GC and every goroutine included).
func runInProcess(ctx context.Context, t *Tool, reps int, f func() error) {
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	for range reps {
		if ctx.Err() != nil {
			t.Err = ctx.Err().Error()
			return
		}
		if err := f(); err != nil {
			t.Err = err.Error()
			return
		}
		t.Runs++
	}
	t.WallSeconds = time.Since(t0).Seconds()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	t.CPUSeconds = rusageSeconds(ru1) - rusageSeconds(ru0)
}

func rusageSeconds(r syscall.Rusage) float64 {
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}

// runCommands runs the command list reps times, summing wall and child
// CPU time.
func runCommands(ctx context.Context, t *Tool, reps int, cmds [][]string) {
	if _, err := exec.LookPath(cmds[0][0]); err != nil {
		t.Err = fmt.Sprintf("%s not installed", cmds[0][0])
		return
	}
	t0 := time.Now()
	for range reps {
		for _, argv := range cmds {
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Err = fmt.Sprintf("%v: %v: %s", argv, err, lastLine(out))
				return
			}
			st := cmd.ProcessState
			t.CPUSeconds += (st.UserTime() + st.SystemTime()).Seconds()
		}
		t.Runs++
	}
	t.WallSeconds = time.Since(t0).Seconds()
}

// runTranscoderBinary times cmd/transcoder converting fresh copies of the
// capture one at a time, process start included, like the other tools;
// the copies and their MP4s are under dir, which it empties first.
func runTranscoderBinary(ctx context.Context, bin, capture, dir string, reps int) *Tool {
	t := &Tool{Name: NameBinary, Command: bin + " --workers 1 --max-age 0 DIR/UID_HHMMSS.tmp"}
	if err := os.RemoveAll(dir); err != nil {
		t.Err = err.Error()
		return t
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Err = err.Error()
		return t
	}
	src, err := os.ReadFile(capture)
	if err != nil {
		t.Err = err.Error()
		return t
	}
	var paths []string
	for i := range reps {
		// Each run gets its own recording folder, named as the daemon
		// names captures, so the binary converts it as it would in service.
		d := filepath.Join(dir, fmt.Sprintf("rec%d", i))
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Err = err.Error()
			return t
		}
		p := storage.CaptureName(d, 1, time.Date(2024, 1, 1, 12, 0, i, 0, time.UTC))
		if err := os.WriteFile(p, src, storage.FileMode); err != nil {
			t.Err = err.Error()
			return t
		}
		paths = append(paths, p)
	}
	// All captures are converted once each: reps runs of one command.
	t0 := time.Now()
	for _, p := range paths {
		argv := []string{bin, "--workers", "1", "--max-age", "0", p}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Err = fmt.Sprintf("%v: %v: %s", argv, err, lastLine(out))
			return t
		}
		st := cmd.ProcessState
		t.CPUSeconds += (st.UserTime() + st.SystemTime()).Seconds()
		t.Runs++
	}
	t.WallSeconds = time.Since(t0).Seconds()
	mp4s, _ := filepath.Glob(filepath.Join(dir, "rec0", "*.mp4"))
	if len(mp4s) == 0 {
		t.Err = "no MP4 written next to the capture"
		return t
	}
	t.Output = mp4s[0]
	return t
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// checkMP4 decodes the file with ffmpeg (which, unlike ffprobe, notices a
// truncated MP4) and checks that the wanted streams are there and about
// as long as the media.
func checkMP4(ctx context.Context, path string, media time.Duration, video, audio bool) string {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		return fmt.Sprintf("%s: decode: %v %s", filepath.Base(path), err, lastLine(out))
	}
	for _, want := range []struct {
		on  bool
		sel string
	}{{video, "v:0"}, {audio, "a:0"}} {
		if !want.on {
			continue
		}
		d, err := probeDuration(ctx, path, want.sel)
		if err != nil {
			return fmt.Sprintf("%s: %s: %v", filepath.Base(path), want.sel, err)
		}
		if diff := d - media; diff < -time.Second || diff > time.Second {
			return fmt.Sprintf("%s: %s lasts %v, media %v", filepath.Base(path), want.sel, d, media)
		}
	}
	return "ok"
}

// probeDuration is the stream's duration from its packets (last end minus
// first start), which does not depend on container duration fields.
func probeDuration(ctx context.Context, path, sel string) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", sel,
		"-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("%w: ffprobe: %w", ErrOutput, err)
	}
	first, last := -1.0, 0.0
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 1 {
			continue
		}
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		end := pts
		if len(f) > 1 {
			if d, err := strconv.ParseFloat(f[1], 64); err == nil {
				end += d
			}
		}
		if first < 0 || pts < first {
			first = pts
		}
		last = max(last, end)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: no packets", ErrOutput)
	}
	return time.Duration((last - first) * float64(time.Second)), nil
}

// checkVideo judges a video-only output as checkMP4 does, then has
// ffprobe decode its first video stream (-count_frames), which must be
// codec (ffprobe's name: h264, vp8, vp9, av1) and hold every picture sent:
// a converter that drops or hides a frame keeps the length but not the
// count. The file's own sample count is said beside a wrong count: fewer
// samples is a frame not written, as many a frame the container hides
// (an MP4 edit list ending before the last sample).
func checkVideo(ctx context.Context, path, codec string, frames int, media time.Duration) string {
	if c := checkMP4(ctx, path, media, true, false); c != "ok" {
		return c
	}
	v, err := countFrames(ctx, path)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", filepath.Base(path), err)
	case v.codec != strings.ToLower(codec):
		return fmt.Sprintf("%s: video is %s, not %s", filepath.Base(path), v.codec, strings.ToLower(codec))
	case v.frames != frames:
		return fmt.Sprintf("%s: %d of %d frames decoded (%d samples in the file)", filepath.Base(path), v.frames, frames, v.packets)
	}
	return "ok"
}

// videoCount is ffprobe's count of a video stream.
type videoCount struct {
	codec           string
	frames, packets int
}

// countFrames counts the first video stream's decoded frames and its
// packets (samples).
func countFrames(ctx context.Context, path string) (videoCount, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames,nb_read_packets", "-of", "json", path).Output()
	if err != nil {
		return videoCount{}, fmt.Errorf("%w: ffprobe: %w", ErrOutput, err)
	}
	var probe struct {
		Streams []struct {
			Codec   string `json:"codec_name"`
			Frames  string `json:"nb_read_frames"`
			Packets string `json:"nb_read_packets"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		return videoCount{}, fmt.Errorf("%w: ffprobe: %w", ErrOutput, err)
	}
	if len(probe.Streams) == 0 {
		return videoCount{}, fmt.Errorf("%w: no video stream", ErrOutput)
	}
	st := probe.Streams[0]
	v := videoCount{codec: st.Codec}
	if v.frames, err = strconv.Atoi(st.Frames); err != nil {
		return v, fmt.Errorf("%w: frame count %q: %w", ErrOutput, st.Frames, err)
	}
	if v.packets, err = strconv.Atoi(st.Packets); err != nil {
		return v, fmt.Errorf("%w: packet count %q: %w", ErrOutput, st.Packets, err)
	}
	return v, nil
}
