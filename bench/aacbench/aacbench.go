package aacbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/mdsection"
	"github.com/ars-project/ars/bench/mixbench"
	"github.com/ars-project/ars/internal/aacenc"
	"github.com/ars-project/ars/internal/ogg"
)

// ErrBench is a benchmark that could not run.
var ErrBench = errors.New("aacbench")

// Markers of the section in bench/RESULTS.md.
const (
	SectionBegin = "<!-- aacbench:begin -->"
	SectionEnd   = "<!-- aacbench:end -->"
)

// packet is the Opus packet duration of the input.
const packet = 20 * time.Millisecond

// Config is one benchmark run.
type Config struct {
	Mixer     string // the ars-mixer binary
	WorkDir   string
	Duration  time.Duration // media per stream
	Streams   []int         // streams at once, per step fed as fast as possible
	RTStreams []int         // streams at once, per step fed in real time
	Channels  []int         // AAC output channels, per step
	Kbps      int           // AAC bitrate per channel
	Fast      []bool        // coders per step: false libavcodec's two-loop search, true its fast one
	Log       *slog.Logger
}

// Step is one measurement.
type Step struct {
	RealTime     bool
	Streams      int
	Channels     int
	Kbps         int
	Fast         bool
	MediaSeconds float64 // per stream
	Wall         time.Duration
	CPU          time.Duration // the child's user+system time over the step
	Units        int64
	Dropped      int64
	Check        string // "" when the output passed
}

// CPUPerAudioSecond is the child's CPU seconds per second of one
// stream's audio.
func (s Step) CPUPerAudioSecond() float64 {
	return s.CPU.Seconds() / (s.MediaSeconds * float64(s.Streams))
}

// Result is a run.
type Result struct {
	Started time.Time
	Elapsed time.Duration
	Steps   []Step
}

// Run runs every step: for each channel count and stream count, as fast
// as possible and in real time.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := os.MkdirAll(cfg.WorkDir, 0o750); err != nil {
		return nil, err
	}
	pkts, err := encode(ctx, cfg.WorkDir, cfg.Duration)
	if err != nil {
		return nil, err
	}
	res := &Result{Started: time.Now()}
	for _, fast := range cfg.Fast {
		for _, ch := range cfg.Channels {
			for _, rt := range []bool{false, true} {
				ns := cfg.Streams
				if rt {
					ns = cfg.RTStreams
				}
				for _, n := range ns {
					if ctx.Err() != nil {
						return res, ctx.Err()
					}
					st, err := step(ctx, cfg, pkts, n, ch, rt, fast)
					if err != nil {
						return res, err
					}
					cfg.Log.Info("step", "real_time", rt, "streams", n, "channels", ch, "fast", fast, "cpu", st.CPU,
						"cpu_per_audio_s", fmt.Sprintf("%.5f", st.CPUPerAudioSecond()), "check", orOK(st.Check))
					res.Steps = append(res.Steps, st)
				}
			}
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	return s
}

// encode makes the input: a 440 Hz tone under pink noise (so the
// encoders work as on a voice, not a pure tone), stereo Opus 20 ms
// frames, 64 kbit/s, split into packets.
func encode(ctx context.Context, dir string, d time.Duration) ([][]byte, error) {
	path := filepath.Join(dir, fmt.Sprintf("input-%ds.ogg", int(d.Seconds())))
	if _, err := os.Stat(path); err != nil {
		secs := fmt.Sprint(d.Seconds())
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d="+secs,
			"-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.05:r=48000:d="+secs, "-filter_complex", "amix=inputs=2:normalize=0",
			"-ac", "2", "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20", "-y", path).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("%w: ffmpeg: %v\n%s", ErrBench, err, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pkts, err := ogg.Packets(b)
	if err != nil || len(pkts) < 3 {
		return nil, fmt.Errorf("%w: %s: %v", ErrBench, path, err)
	}
	n := int(d / packet)
	return pkts[2:][:min(n, len(pkts)-2)], nil
}

// collector keeps stream 0's results and counts the rest.
type collector struct {
	mu     sync.Mutex
	first  []aacenc.AAC
	units  int64
	closed int
}

func (c *collector) on(id uint32, au aacenc.AAC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == 0 {
		c.first = append(c.first, au)
	}
	switch au.Kind {
	case aacenc.KindUnit:
		c.units++
	case aacenc.KindClosed:
		c.closed++
	}
}

func step(ctx context.Context, cfg Config, pkts [][]byte, n, ch int, rt, fast bool) (Step, error) {
	c := &collector{}
	tr, err := aacenc.New(aacenc.WithBinary(cfg.Mixer), aacenc.WithOnAAC(c.on), aacenc.WithMaxStreams(max(n, 1)),
		aacenc.WithLogger(cfg.Log))
	if err != nil {
		return Step{}, err
	}
	if err := tr.Start(); err != nil {
		return Step{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tr.Close(cctx)
	}()
	streams := make([]*aacenc.Stream, n)
	for i := range streams {
		if streams[i], err = tr.Open(uint32(i), aacenc.Params{InputChannels: 2, Channels: ch, BitrateKbps: cfg.Kbps * ch, Fast: fast}); err != nil {
			return Step{}, err
		}
	}
	time.Sleep(200 * time.Millisecond) // the pipelines built
	pid := tr.PID()
	cpu0, err := capacity.ProcCPU(pid)
	if err != nil {
		return Step{}, err
	}
	t0 := time.Now()
	for i, p := range pkts {
		if rt {
			if d := time.Until(t0.Add(time.Duration(i) * packet)); d > 0 {
				time.Sleep(d)
			}
		}
		pts := time.Duration(i) * packet
		for _, s := range streams {
			for !s.Write(pts, p) {
				if rt {
					break // counted as dropped: real time does not wait
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	for _, s := range streams {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := s.Close(cctx)
		cancel()
		if err != nil {
			return Step{}, err
		}
	}
	cpu1, err := capacity.ProcCPU(pid)
	if err != nil {
		return Step{}, err
	}
	st := Step{RealTime: rt, Streams: n, Channels: ch, Kbps: cfg.Kbps * ch, Fast: fast, MediaSeconds: float64(len(pkts)) * packet.Seconds(),
		Wall: time.Since(t0), CPU: cpu1 - cpu0, Units: c.units, Dropped: tr.Stats().Dropped}
	if tr.Stats().Restarts > 0 {
		st.Check = "the transcoder restarted"
	}
	if st.Check == "" {
		st.Check = check(filepath.Join(cfg.WorkDir, fmt.Sprintf("out-%d-%dch-%s.aac", n, ch, coder(fast))), c.first, len(pkts))
	}
	return st, nil
}

func coder(fast bool) string {
	if fast {
		return "fast"
	}
	return "twoloop"
}

// check writes stream 0 as ADTS and judges it.
func check(path string, rs []aacenc.AAC, packets int) string {
	var asc []byte
	var out []byte
	units := 0
	for _, r := range rs {
		switch r.Kind {
		case aacenc.KindConfig:
			asc = r.ASC
		case aacenc.KindUnit:
			if asc == nil {
				return "a unit before its config"
			}
			out = append(out, adts(asc, len(r.Data))...)
			out = append(out, r.Data...)
			units++
		}
	}
	// The input's samples, the priming frame, the last one's padding.
	if want := (packets*960 + 1024 + 1023) / 1024; units != want {
		return fmt.Sprintf("%d units, want %d", units, want)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err.Error()
	}
	if b, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(b) > 0 {
		return fmt.Sprintf("does not decode cleanly: %v %s", err, strings.TrimSpace(string(b)))
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		return err.Error()
	}
	tone, empty := goertzel(raw, 440), goertzel(raw, mixbench.EmptyBandHz)
	if tone < 100*empty {
		return fmt.Sprintf("440 Hz %.3g not 20 dB over the empty band %.3g", tone, empty)
	}
	return ""
}

// goertzel is the mean power of hz in 100 ms blocks of s16le mono.
func goertzel(raw []byte, hz float64) float64 {
	const n = 4800
	k := 2 * math.Cos(2*math.Pi*hz/48000)
	var sum float64
	blocks := 0
	for s := 0; s+2*n <= len(raw); s += 2 * n {
		var s1, s2 float64
		for i := 0; i < n; i++ {
			v := float64(int16(uint16(raw[s+2*i])|uint16(raw[s+2*i+1])<<8)) / 32768
			s0 := v + k*s1 - s2
			s2, s1 = s1, s0
		}
		sum += (s1*s1 + s2*s2 - k*s1*s2) / n / n
		blocks++
	}
	if blocks == 0 {
		return 0
	}
	return sum / float64(blocks)
}

// adts is the 7-byte ADTS header of a raw frame of n bytes.
func adts(asc []byte, n int) []byte {
	obj := int(asc[0] >> 3)
	sfi := int(asc[0]&7)<<1 | int(asc[1]>>7)
	ch := int(asc[1]>>3) & 0xf
	l := n + 7
	return []byte{0xff, 0xf1, byte((obj-1)<<6 | sfi<<2 | ch>>2), byte((ch&3)<<6 | l>>11), byte(l >> 3), byte(l&7<<5 | 0x1f), 0xfc}
}

// Section is the Markdown section's markers.
func Section() mdsection.Markers { return mdsection.Markers{Begin: SectionBegin, End: SectionEnd} }

// Report is what the section shows besides the results.
type Report struct {
	Command []string
	Machine string
	Cores   int
}

// Markdown renders the section.
func (r *Result) Markdown(rep Report) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("%s\n## Opus to AAC for individual MPEG-TS recordings (issue 14): CPU per stream, recordings per box\n\n", SectionBegin)
	p("Run %s, took %v, on %s.\n\n```\n%s\n```\n\n", r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second), rep.Machine,
		strings.Join(rep.Command, "\n"))
	p("- Input (encoded once by ffmpeg): a 440 Hz tone under pink noise, stereo libopus 64 kbit/s, 20 ms packets, as a WebRTC sender's opus/48000/2.\n")
	p("- One `ars-mixer --audio-transcoder` process per step, driven through internal/aacenc as the daemon drives it: N streams open at once, every packet written to every stream, " +
		"as fast as the transcoder takes them or at the packets' real time (one write per stream every 20 ms). Per stream: appsrc ! opusdec ! audiorate ! audioconvert ! audioresample ! avenc_aac ! appsink.\n")
	p("- CPU = the child's user+system time (/proc/PID/stat) from the first packet to the last stream's Closed (its flush), divided by the audio seconds transcoded (streams x media seconds).\n")
	p("- Writes refused: Write returned false (the queue full). As fast as possible the feed writes again (nothing is lost, the queue is the back-pressure); in real time the packet is lost.\n")
	p("- Check: stream 0 of each step written as ADTS: unit count = the input's samples + the priming frame, rounded up; ffmpeg -v error -xerror silent; 440 Hz at least 20 dB over an empty band (2.5 kHz).\n\n")
	p("| feed | streams | AAC out | coder | media s / stream | wall | child CPU s | CPU s per audio s (cores per stream) | units | writes refused | check |\n|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.Steps {
		feed := "as fast as possible"
		if s.RealTime {
			feed = "real time"
		}
		p("| %s | %d | %d ch %d kbit/s | %s | %.0f | %v | %.2f | %.5f | %d | %d | %s |\n", feed, s.Streams, s.Channels, s.Kbps, coder(s.Fast), s.MediaSeconds,
			s.Wall.Round(10*time.Millisecond), s.CPU.Seconds(), s.CPUPerAudioSecond(), s.Units, s.Dropped, orOK(s.Check))
	}
	p("\n")
	p("What a 2-core box holds, from the real-time rows (%d cores; at 70 %% busy in brackets, leaving room for the daemon's packet path, TS writing and uploads):\n\n", rep.Cores)
	for _, s := range r.Steps {
		if !s.RealTime || s.Check != "" {
			continue
		}
		per := s.CPUPerAudioSecond()
		what := fmt.Sprintf("%d streams in one process (a session recording %d uids)", s.Streams, s.Streams)
		if s.Streams == 1 {
			what = "one stream in its own process (a session recording one uid's audio: the process's fixed cost included)"
		}
		p("- %s, %d ch out, %s coder: %.4f of a core per stream: about **%d** individual TS recordings' audio streams (%d).\n",
			what, s.Channels, coder(s.Fast), per, int(float64(rep.Cores)/per), int(0.7*float64(rep.Cores)/per))
	}
	p("\n%s\n", SectionEnd)
	return b.String()
}

// WriteSection puts the section into the Markdown file at path.
func WriteSection(path, section string) error { return mdsection.Write(path, Section(), section) }
