package mixbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/internal/mixproto"
)

// X264 are the encoder settings both composites use, so that the two
// spend comparable effort per frame.
type X264 struct {
	Preset string // x264 speed preset
	Tune   string // empty: none
}

// FFmpegResult is the same composite made by the ffmpeg CLI.
type FFmpegResult struct {
	Command      string  `json:"command"`
	Output       string  `json:"output"`
	MediaSeconds float64 `json:"mediaSeconds"`
	WallSeconds  float64 `json:"wallSeconds"`
	// SteadyCPUSeconds over SteadySeconds is the process's CPU from 1 s
	// after its start to 0.5 s before the media ends (/proc/PID/stat):
	// the same steady-state window as the mixer's, start-up left out.
	// Zero when not live or too short to have one.
	SteadyCPUSeconds float64 `json:"steadyCpuSeconds"`
	SteadySeconds    float64 `json:"steadySeconds"`
	TotalCPUSeconds  float64 `json:"totalCpuSeconds"`
	MaxRSS           int64   `json:"maxRss"`
	Err              string  `json:"error,omitempty"`
}

// FFmpegArgs is the ffmpeg command line composing inputs into out as the
// mixer composes them: each picture scaled to cover its window and
// cropped (render mode 0), the windows stacked on the canvas (xstack),
// the tones mixed (amix), H.264 with the same x264 settings at the
// canvas's rate and bitrate, AAC. With live, every input is read at its
// native rate (-re), as the mixer receives it.
func FFmpegArgs(s Scenario, x X264, inputs []*Input, windows []mixproto.Window, out string, live bool) []string {
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y"}
	re := func() {
		if live {
			args = append(args, "-re")
		}
	}
	for _, in := range inputs {
		re()
		args = append(args, "-framerate", strconv.Itoa(in.Spec.FPS), "-i", in.VideoES)
	}
	for _, in := range inputs {
		re()
		args = append(args, "-i", in.AudioES)
	}
	var fc, stack, layout strings.Builder
	for i, w := range windows {
		fmt.Fprintf(&fc, "[%d:v]scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,setsar=1[v%d];", i, w.W, w.H, w.W, w.H, i)
		fmt.Fprintf(&stack, "[v%d]", i)
		if i > 0 {
			layout.WriteByte('|')
		}
		fmt.Fprintf(&layout, "%d_%d", w.X, w.Y)
	}
	n := len(inputs)
	fmt.Fprintf(&fc, "%sxstack=inputs=%d:layout=%s:fill=black,fps=%d[vout];", stack.String(), n, layout.String(), s.Canvas.FPS)
	for i := range inputs {
		fmt.Fprintf(&fc, "[%d:a]", n+i)
	}
	fmt.Fprintf(&fc, "amix=inputs=%d:normalize=0[aout]", n)
	kb := strconv.Itoa(s.Canvas.BitrateKbps) + "k"
	gop := strconv.Itoa(2 * s.Canvas.FPS)
	args = append(args, "-filter_complex", fc.String(), "-map", "[vout]", "-map", "[aout]",
		"-c:v", "libx264", "-preset", x.Preset)
	if x.Tune != "" {
		args = append(args, "-tune", x.Tune)
	}
	args = append(args, "-profile:v", "high", "-pix_fmt", "yuv420p", "-b:v", kb, "-maxrate", kb, "-bufsize", kb,
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", strconv.Itoa(s.Audio.BitrateKbps)+"k", "-ac", strconv.Itoa(s.Audio.Channels), "-ar", "48000",
		"-t", fmt.Sprintf("%.3f", s.Input.Duration.Seconds()), out)
	return args
}

// RunFFmpeg makes the composite with the ffmpeg CLI and times it.
func RunFFmpeg(ctx context.Context, dir string, s Scenario, x X264, inputs []*Input, windows []mixproto.Window, live bool) *FFmpegResult {
	r := &FFmpegResult{Output: filepath.Join(dir, "ffmpeg.mp4"), MediaSeconds: s.Input.Duration.Seconds()}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		r.Err = err.Error()
		return r
	}
	args := FFmpegArgs(s, x, inputs, windows, r.Output, live)
	r.Command = "ffmpeg " + strings.Join(args, " ")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Start()
	if err == nil {
		if from, to := time.Second, s.Input.Duration-time.Second/2; live && to-from >= 2*time.Second {
			steady := make(chan struct{})
			go func() {
				defer close(steady)
				time.Sleep(time.Until(t0.Add(from)))
				c0, e0 := capacity.ProcCPU(cmd.Process.Pid)
				a := time.Now()
				time.Sleep(time.Until(t0.Add(to)))
				c1, e1 := capacity.ProcCPU(cmd.Process.Pid)
				if e0 == nil && e1 == nil {
					r.SteadyCPUSeconds, r.SteadySeconds = (c1 - c0).Seconds(), time.Since(a).Seconds()
				}
			}()
			defer func() { <-steady }()
		}
		err = cmd.Wait()
	}
	r.WallSeconds = time.Since(t0).Seconds()
	if st := cmd.ProcessState; st != nil {
		r.TotalCPUSeconds = (st.UserTime() + st.SystemTime()).Seconds()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss * 1024
		}
	}
	if err != nil {
		r.Err = fmt.Sprintf("%v: %s", err, lastLine(out.String()))
	}
	return r
}
