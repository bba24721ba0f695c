package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
)

// Series is one line of a panel.
type Series struct {
	Name  string
	Color color.RGBA
	X, Y  []float64
}

// Panel is one plot: its own y axis, sharing the chart's x label.
type Panel struct {
	Title  string
	Series []Series
	// Limit draws a dashed horizontal line at this y (a target), if > 0.
	Limit float64
}

const (
	chartW      = 960
	panelH      = 330
	marginLeft  = 90
	marginRight = 250
	marginTop   = 34
	marginBot   = 46
)

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{200, 200, 200, 255}
)

// WriteChart draws the panels one above the other and writes a PNG.
func WriteChart(path, xLabel string, panels []Panel) error {
	img := image.NewRGBA(image.Rect(0, 0, chartW, panelH*len(panels)))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	for i, p := range panels {
		drawPanel(img, i*panelH, xLabel, p)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func drawPanel(img *image.RGBA, top int, xLabel string, p Panel) {
	x0, x1 := marginLeft, chartW-marginRight
	y0, y1 := top+marginTop, top+panelH-marginBot // y0 top, y1 bottom
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymax := p.Limit
	for _, s := range p.Series {
		for i := range s.X {
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymax = math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
	}
	xmin = 0
	if xmax <= xmin {
		xmax = xmin + 1
	}
	step := niceStep(ymax / 5)
	ymax = step * math.Ceil(ymax/step)
	if ymax <= 0 {
		ymax, step = 1, 0.2
	}
	px := func(x float64) int { return x0 + int(math.Round((x-xmin)/(xmax-xmin)*float64(x1-x0))) }
	py := func(y float64) int { return y1 - int(math.Round(y/ymax*float64(y1-y0))) }

	drawText(img, x0, top+10, 2, p.Title, black)
	for y := 0.0; y <= ymax+step/2; y += step {
		yy := py(y)
		hline(img, x0, x1, yy, grey)
		lbl := formatTick(y, step)
		drawText(img, x0-8-textWidth(lbl, 1), yy-3, 1, lbl, black)
	}
	xs := map[float64]bool{}
	for _, s := range p.Series {
		for _, x := range s.X {
			xs[x] = true
		}
	}
	for x := range xs {
		xx := px(x)
		vline(img, xx, y0, y1, grey)
		lbl := fmt.Sprint(x)
		drawText(img, xx-textWidth(lbl, 1)/2, y1+6, 1, lbl, black)
	}
	drawText(img, (x0+x1)/2-textWidth(xLabel, 1)/2, y1+24, 1, xLabel, black)
	hline(img, x0, x1, y1, black)
	vline(img, x0, y0, y1, black)
	if p.Limit > 0 {
		for x := x0; x < x1; x += 10 {
			hline(img, x, min(x+5, x1), py(p.Limit), black)
		}
		drawText(img, x1-textWidth("TARGET", 1), py(p.Limit)-10, 1, "TARGET", black)
	}
	for i, s := range p.Series {
		for j := range s.X {
			cx, cy := px(s.X[j]), py(s.Y[j])
			for dy := -3; dy <= 3; dy++ {
				for dx := -3; dx <= 3; dx++ {
					img.Set(cx+dx, cy+dy, s.Color)
				}
			}
			if j > 0 {
				line(img, px(s.X[j-1]), py(s.Y[j-1]), cx, cy, s.Color)
			}
		}
		ly := y0 + 10 + i*22
		for dy := 0; dy < 10; dy++ {
			hline(img, x1+20, x1+34, ly+dy, s.Color)
		}
		drawText(img, x1+42, ly+1, 1, s.Name, black)
	}
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 0.2
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v, step float64) string {
	if step >= 1 {
		return fmt.Sprintf("%.0f", v)
	}
	d := int(math.Ceil(-math.Log10(step)))
	return fmt.Sprintf("%.*f", d, v)
}

func hline(img *image.RGBA, xa, xb, y int, c color.Color) {
	for x := xa; x <= xb; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, ya, yb int, c color.Color) {
	for y := ya; y <= yb; y++ {
		img.Set(x, y, c)
	}
}

// line draws a 2-pixel-thick segment (Bresenham).
func line(img *image.RGBA, xa, ya, xb, yb int, c color.Color) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := sign(xb-xa), sign(yb-ya)
	e := dx + dy
	for {
		img.Set(xa, ya, c)
		img.Set(xa+1, ya, c)
		img.Set(xa, ya+1, c)
		if xa == xb && ya == yb {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			xa += sx
		}
		if e2 <= dx {
			e += dx
			ya += sy
		}
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

func sign(a int) int {
	switch {
	case a < 0:
		return -1
	case a > 0:
		return 1
	}
	return 0
}
