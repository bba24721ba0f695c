package layout

import (
	"fmt"
	"math"
	"strings"
)

// AgoraRegion is one entry of Agora's layoutConfig as its JSON spells it
// (transcodingConfig, updateLayout, transcoder --layout-config).
type AgoraRegion struct {
	UID        string   `json:"uid"`
	XAxis      float64  `json:"x_axis"`
	YAxis      float64  `json:"y_axis"`
	Width      float64  `json:"width"`
	Height     float64  `json:"height"`
	Alpha      *float64 `json:"alpha"`
	RenderMode *int     `json:"render_mode"`
}

// Region converts the entry: alpha left out is 1, render_mode 0 crops
// (fills the window) and 1 fits. Ranges are Config.Validate's to check.
func (a AgoraRegion) Region() (Region, error) {
	r := Region{UID: a.UID, X: a.XAxis, Y: a.YAxis, W: a.Width, H: a.Height, Alpha: 1}
	if a.Alpha != nil {
		r.Alpha = *a.Alpha
	}
	if a.RenderMode != nil {
		if *a.RenderMode != 0 && *a.RenderMode != 1 {
			return r, fmt.Errorf("%w: render_mode must be 0 or 1", ErrBadLayout)
		}
		r.Fit = *a.RenderMode == 1
	}
	for _, v := range []float64{r.X, r.Y, r.W, r.H, r.Alpha} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return r, fmt.Errorf("%w: values must be numbers from 0 to 1", ErrBadLayout)
		}
	}
	return r, nil
}

// ParseMode reads a layout mode by Agora's number (0-3) or name
// (floating, bestfit, vertical, custom).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "0", "floating":
		return Floating, nil
	case "1", "bestfit", "adaptive":
		return BestFit, nil
	case "2", "vertical":
		return Vertical, nil
	case "3", "custom":
		return Custom, nil
	}
	return 0, fmt.Errorf("%w: layout %q (floating, bestfit, vertical, custom or 0-3)", ErrBadLayout, s)
}
