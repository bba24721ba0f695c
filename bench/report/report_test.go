package report

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ars-project/ars/bench/capacity"
	"github.com/ars-project/ars/bench/convbench"
)

func steps() []*capacity.Step {
	return []*capacity.Step{
		{Channels: 100, Participants: 200, Seconds: 10, GenPaced: true, DaemonCPUPct: 20, RSSPerChannel: 150e3, FloorRatio: 1.5,
			Account: capacity.Accounting{Sent: 1000, Written: 1000}, Floor: &capacity.Floor{CPUPct: 12, NsPerPacket: 1000}},
		{Channels: 500, Participants: 1000, Seconds: 10, GenPaced: true, DaemonCPUPct: 45, RSSPerChannel: 120e3, FloorRatio: 1.8,
			Account: capacity.Accounting{Sent: 5000, Written: 4999, Lost: 1, LossPct: 0.02}, Floor: &capacity.Floor{CPUPct: 25, NsPerPacket: 900}},
		// Loss within target but the generator fell behind: not counted.
		{Channels: 1000, Participants: 2000, Seconds: 10, GenPaced: false, GenElapsed: 17, DaemonCPUPct: 48,
			Account: capacity.Accounting{Sent: 9000, Written: 9000}},
	}
}

func TestChartIsAPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chart.png")
	if err := WriteCapacityChart(path, steps()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != chartW || b.Dy() != 2*panelH {
		t.Fatalf("size %v", b)
	}
	// The loss line is red: some pixel of it must be there.
	red := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r>>8 == 214 && g>>8 == 39 && bb>>8 == 40 {
				red++
			}
		}
	}
	if red < 50 {
		t.Fatalf("only %d red pixels: loss series not drawn", red)
	}
}

func TestHeadlinesAndMarkdown(t *testing.T) {
	in := Input{
		Steps: steps(),
		Tools: []*convbench.Tool{
			{Name: convbench.NameInProcess, SpeedPerCore: 6000},
			{Name: convbench.NameBinary, SpeedPerCore: 3000},
			{Name: "ffmpeg -c copy", SpeedPerCore: 300},
			{Name: "janus-pp-rec (video + audio)", SpeedPerCore: 600},
		},
		NominalPPSPerParticipant: 108,
	}
	h := Headlines(in)
	if h.Channels != 500 {
		t.Errorf("largest %d, want 500 (1000 was not paced)", h.Channels)
	}
	if h.ConvSpeedPerCore != 3000 || h.VsFFmpeg != 10 || h.VsJanus != 5 {
		t.Errorf("conversion headline %+v", h)
	}
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := WriteMarkdown(path, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	md := string(b)
	for _, want := range []string{"| 500 channels | **missed** |", "| 1000 | 216000 |", "no (17.0s for 10s)", "3000x"} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ raw, want float64 }{{0.013, 0.02}, {7, 10}, {40, 50}, {0.1, 0.1}, {0, 0.2}} {
		if got := niceStep(c.raw); got != c.want {
			t.Errorf("niceStep(%v) = %v, want %v", c.raw, got, c.want)
		}
	}
}
