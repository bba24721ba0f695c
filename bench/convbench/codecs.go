package convbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
)

// NameJanus is janus-pp-rec's row in the codec comparison.
const NameJanus = "janus-pp-rec"

// DefaultCodecs are the video codecs the comparison converts: every one
// ars records.
func DefaultCodecs() []string {
	return []string{storage.CodecH264, storage.CodecVP8, storage.CodecVP9, storage.CodecAV1}
}

// CodecConfig is one run of the codec comparison.
type CodecConfig struct {
	// Media are every codec's settings (size, rate, length, bitrate,
	// GOP): those of the H.264 conversion benchmark by default.
	Media    loadgen.MediaOptions
	Codecs   []string // storage codec names; default DefaultCodecs
	MediaDir string   // cache of the encoded captures
	WorkDir  string
	// Rounds of every tool on every codec, one after the other, so that
	// a burst of other work on a shared box lands on one round of each
	// rather than on one tool; the report gives their median. Default 5.
	Rounds int
	Reps   int // conversions per tool per round; default 5
	// Transcoder is the cmd/transcoder binary; empty skips it.
	Transcoder string
}

// CodecResult is the codec comparison: the media and one row per codec
// and tool.
type CodecResult struct {
	Media  []CodecMedia `json:"media"`
	Rows   []*CodecRow  `json:"rows"`
	Rounds int          `json:"rounds"`
	Reps   int          `json:"reps"`
}

// CodecRow is one tool on one codec over all rounds.
type CodecRow struct {
	Codec   string  `json:"codec"`
	Name    string  `json:"name"`
	Command string  `json:"command"`
	Rounds  []*Tool `json:"rounds"` // the rounds that ran, in order
	// Medians over Rounds of the speeds and of the CPU per conversion.
	MedianPerCore   float64 `json:"medianPerCore"`
	MedianWall      float64 `json:"medianWall"`
	MedianCPUPerRun float64 `json:"medianCpuPerRunSeconds"`
	MinPerCore      float64 `json:"minPerCore"`
	MaxPerCore      float64 `json:"maxPerCore"`
	Output          string  `json:"output"` // what the last run wrote
	Check           string  `json:"check"`  // "ok" or what is wrong
	Err             string  `json:"error,omitempty"`
}

// Runs is the conversions timed over all rounds.
func (r *CodecRow) Runs() int {
	n := 0
	for _, t := range r.Rounds {
		n += t.Runs
	}
	return n
}

// Row is the row of codec and tool, or nil.
func (r *CodecResult) Row(codec, name string) *CodecRow {
	for _, row := range r.Rows {
		if row.Codec == codec && row.Name == name {
			return row
		}
	}
	return nil
}

// codecTool is one converter of the comparison: what one round of it
// does on one codec's media.
type codecTool struct {
	name  string
	round func(ctx context.Context, m CodecMedia, work string, reps int) *Tool
}

// RunCodecs converts every codec's capture with ars (in process and with
// the transcoder binary) and the same packets as .mjr with janus-pp-rec,
// in rounds, then judges every output by decoding it.
func RunCodecs(ctx context.Context, c CodecConfig) (*CodecResult, error) {
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Reps <= 0 {
		c.Reps = 5
	}
	if len(c.Codecs) == 0 {
		c.Codecs = DefaultCodecs()
	}
	res := &CodecResult{Rounds: c.Rounds, Reps: c.Reps}
	// Every codec is encoded before anything is timed: an encode is
	// seconds of CPU that would land on one tool's round.
	for _, codec := range c.Codecs {
		m, err := EnsureCodecMedia(c.MediaDir, codec, c.Media)
		if err != nil {
			return nil, err
		}
		res.Media = append(res.Media, m)
	}
	tools := []codecTool{{name: NameInProcess, round: roundInProcess}}
	if c.Transcoder != "" {
		tools = append(tools, codecTool{name: NameBinary, round: func(ctx context.Context, m CodecMedia, work string, reps int) *Tool {
			return runTranscoderBinary(ctx, c.Transcoder, m.Capture, filepath.Join(work, "transcoder"), reps)
		}})
	}
	tools = append(tools, codecTool{name: NameJanus, round: roundJanus})
	works := make([]string, len(res.Media))
	for i, m := range res.Media {
		works[i] = filepath.Join(c.WorkDir, strings.ToLower(m.Codec))
		if err := os.MkdirAll(works[i], 0o750); err != nil {
			return nil, fmt.Errorf("convbench: %w", err)
		}
		if err := WriteMJR(mjrPath(works[i]), m.Video, codecMediaStart()); err != nil {
			return nil, err
		}
		for _, tl := range tools {
			res.Rows = append(res.Rows, &CodecRow{Codec: m.Codec, Name: tl.name})
		}
	}
	for r := range c.Rounds {
		for i, m := range res.Media {
			// Each round starts with another tool, so that no tool always
			// runs first (cold caches) or right after the same one.
			for k := range tools {
				tl := tools[(k+r)%len(tools)]
				row := res.Row(m.Codec, tl.name)
				if row.Err != "" {
					continue // it failed in an earlier round, and would again
				}
				if ctx.Err() != nil {
					return nil, fmt.Errorf("convbench: %w", ctx.Err())
				}
				t := tl.round(ctx, m, works[i], c.Reps)
				t.finish(m.Duration)
				row.Command, row.Output = t.Command, t.Output
				if t.Err != "" {
					row.Err = t.Err
					continue
				}
				row.Rounds = append(row.Rounds, t)
			}
		}
	}
	// Judge every output after all timing, so that checking does not
	// compete with any converter.
	for _, row := range res.Rows {
		row.summarize()
		if row.Err != "" {
			row.Check = "not run: " + row.Err
			continue
		}
		m := res.media(row.Codec)
		row.Check = checkVideo(ctx, row.Output, m.Codec, m.Frames, m.Duration)
	}
	return res, nil
}

func (r *CodecResult) media(codec string) CodecMedia {
	for _, m := range r.Media {
		if m.Codec == codec {
			return m
		}
	}
	return CodecMedia{}
}

func mjrPath(work string) string { return filepath.Join(work, "video.mjr") }

// janusOutput is the file janus-pp-rec writes for codec: it picks the
// container by extension and, per `janus-pp-rec --file-extensions` of
// Janus 1.1.2, takes VP8 and VP9 only to .webm or .mkv, and H.264 to .mp4
// or .mkv, AV1 only to .mp4.
func janusOutput(work, codec string) string {
	switch codec {
	case storage.CodecVP8, storage.CodecVP9:
		return filepath.Join(work, "janus.webm")
	}
	return filepath.Join(work, "janus.mp4")
}

func roundInProcess(ctx context.Context, m CodecMedia, work string, reps int) *Tool {
	t := &Tool{Name: NameInProcess, Command: "transcode.ConvertFile(capture, out.mp4)", Output: filepath.Join(work, "ars.mp4")}
	runInProcess(ctx, t, reps, func() error {
		_, err := transcode.ConvertFile(ctx, m.Capture, t.Output)
		return err
	})
	return t
}

func roundJanus(ctx context.Context, m CodecMedia, work string, reps int) *Tool {
	out := janusOutput(work, m.Codec)
	t := &Tool{Name: NameJanus, Output: out, Command: "janus-pp-rec video.mjr " + filepath.Base(out)}
	runCommands(ctx, t, reps, [][]string{{"janus-pp-rec", mjrPath(work), out}})
	return t
}

// summarize works out the row's medians and range over its rounds.
func (r *CodecRow) summarize() {
	if len(r.Rounds) == 0 {
		return
	}
	var core, wall, cpu []float64
	for _, t := range r.Rounds {
		core = append(core, t.SpeedPerCore)
		wall = append(wall, t.SpeedWall)
		cpu = append(cpu, t.CPUSeconds/float64(t.Runs))
	}
	r.MedianPerCore, r.MedianWall, r.MedianCPUPerRun = median(core), median(wall), median(cpu)
	r.MinPerCore, r.MaxPerCore = slices.Min(core), slices.Max(core)
}

// median of v (the mean of the middle two for an even count); v is
// sorted in place.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
