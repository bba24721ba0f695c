package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/convbench"
	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/bench/mdsection"
	"github.com/ars-project/ars/bench/mixbench"
	"github.com/ars-project/ars/internal/vcodec"
)

// runConv is `arsbench conv`: the conversion benchmark per video codec,
// ars against janus-pp-rec on the same packets.
func runConv(args []string) error {
	fs := flag.NewFlagSet("conv", flag.ContinueOnError)
	codecs := fs.String("codecs", strings.Join(convbench.DefaultCodecs(), ","), "video codecs to convert")
	transcoder := fs.String("transcoder", "bin/transcoder", "transcoder binary (empty: the in-process converter only)")
	media := fs.String("media", "bench/media/codecs", "folder for the encoded captures (git-ignored, reused)")
	out := fs.String("out", "bench/out/codecs", "folder for the outputs and codecs.json (git-ignored)")
	results := fs.String("results", "bench/RESULTS.md", "Markdown report whose codec section is (re)written")
	// The defaults are `arsbench run`'s media settings (size, rate,
	// length, bitrate, GOP), so that its H.264 + Opus conversion table and
	// these rows describe the same kind of recording.
	def := loadgen.MediaOptions{}.WithDefaults()
	secs := fs.Int("media-seconds", 60, "length of each codec's video")
	width := fs.Int("width", def.Width, "picture width")
	height := fs.Int("height", def.Height, "picture height")
	fps := fs.Int("fps", def.FPS, "frames per second")
	kbps := fs.Int("video-kbps", def.VideoKbps, "every codec's bitrate")
	gop := fs.Int("keyframe-seconds", def.KeyframeSecs, "GOP length in seconds")
	rounds := fs.Int("rounds", 5, "rounds of every tool on every codec (the report gives their median)")
	reps := fs.Int("reps", 5, "conversions per tool, codec and round")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var list []string
	for _, c := range strings.Split(*codecs, ",") {
		codec := vcodec.FromName(strings.TrimSpace(c))
		if codec == vcodec.Unknown {
			return fmt.Errorf("%w: --codecs: %q is not H264, VP8, VP9 or AV1", errUsage, c)
		}
		list = append(list, codec.Name())
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	mo := loadgen.MediaOptions{Duration: time.Duration(*secs) * time.Second, Width: *width, Height: *height, FPS: *fps,
		VideoKbps: *kbps, KeyframeSecs: *gop}.WithDefaults()
	res, err := convbench.RunCodecs(ctx, convbench.CodecConfig{Media: mo, Codecs: list, MediaDir: *media, WorkDir: *out,
		Rounds: *rounds, Reps: *reps, Transcoder: *transcoder})
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(*out, "codecs.json"), res); err != nil {
		return err
	}
	m := machine()
	rep := convbench.CodecReport{
		Command: []string{"make bench   # ... then:", strings.TrimSpace("./bin/arsbench conv " + shellJoin(args))},
		Machine: fmt.Sprintf("%s, %d cores, %.1f GB, Linux %s, %s", m.CPUModel, m.Cores, float64(m.MemBytes)/1e9, m.Kernel,
			time.Now().UTC().Format("2006-01-02 15:04 UTC")),
		Settings: []string{
			fmt.Sprintf("Video: lavfi testsrc2 %dx%d at %d fps, %v, %d kbit/s, a keyframe every %d s, encoded once per setting (cached in %s) by %s through internal/testmedia: libx264 Baseline veryfast, libvpx and libvpx-vp9 -deadline realtime -cpu-used 8, libaom-av1 -usage realtime -cpu-used 8, no B-frames or hidden alt-ref frames; RTP packets of at most 1200 bytes from ffmpeg's packetizer (H.264, VP8, VP9) or pion's AV1Payloader (Debian's ffmpeg has no AV1 packetizer).",
				mo.Width, mo.Height, mo.FPS, mo.Duration, mo.VideoKbps, mo.KeyframeSecs, *media, shortFFmpegVersion()),
			fmt.Sprintf("ars: transcode.ConvertFile on the capture, and %s on a copy of it (%s). janus-pp-rec (%s) on the packets as a Janus MJR00002 file (\"c\": \"h264\", \"vp8\", \"vp9\", \"av1\"), writing what it accepts for the codec (`janus-pp-rec --file-extensions`): .webm for VP8 and VP9, .mp4 for H.264 and AV1 (AV1 only to .mp4).",
				*transcoder, toolVersion(*transcoder), janusVersion()),
			"No ffmpeg row: the main conversion table's `ffmpeg -c copy` remuxes the elementary streams ffmpeg wrote, not RTP packets, and reading these packets would take ffmpeg an SDP and a live RTP session, which is not what it times.",
		},
		Notes: []string{"The box is shared: other work on it lands on some rounds (the range); the median is the figure to quote."},
	}
	// The section sits before the composite one, next to `arsbench
	// run`'s conversion table.
	if err := mdsection.Write(*results, convbench.CodecSection(), res.Markdown(rep), mixbench.Section()); err != nil {
		return err
	}
	for _, row := range res.Rows {
		fmt.Printf("%s %s: %.0fx real time per core (median of %d rounds, %.0f-%.0f); check: %s\n", row.Codec, row.Name,
			row.MedianPerCore, len(row.Rounds), row.MinPerCore, row.MaxPerCore, row.Check)
	}
	fmt.Printf("wrote %s\n", *results)
	return nil
}

func janusVersion() string {
	out, err := exec.Command("janus-pp-rec", "--file-extensions").CombinedOutput()
	if err != nil {
		return "version unknown"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Janus version:"); ok {
			return "Janus " + strings.TrimSpace(v)
		}
	}
	return "version unknown"
}

// shortFFmpegVersion is ffmpeg's version line without its copyright.
func shortFFmpegVersion() string {
	v, _, _ := strings.Cut(ffmpegVersion(), " Copyright")
	return v
}
