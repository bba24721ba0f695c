package cloudrec

import (
	"fmt"
	"strings"

	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/mixproto"
)

// Agora's transcodingConfig defaults.
const (
	defaultMixWidth   = 360
	defaultMixHeight  = 640
	defaultMixFPS     = 15
	defaultMixBitrate = 500
)

// mixSettings is a checked mix-mode start: the composite's canvas, its
// sound and its first layout.
type mixSettings struct {
	canvas *mixproto.VideoConfig // nil: an audio-only composite (streamTypes 0)
	audio  mixproto.AudioConfig
	layout layout.Config
}

// audioProfiles are Agora's audioProfile values: 0 48 kHz mono ~48
// kbit/s, 1 48 kHz mono 128 kbit/s, 2 48 kHz stereo 192 kbit/s.
var audioProfiles = []mixproto.AudioConfig{
	{Rate: 48000, Channels: 1, BitrateKbps: 48},
	{Rate: 48000, Channels: 1, BitrateKbps: 128},
	{Rate: 48000, Channels: 2, BitrateKbps: 192},
}

// checkMix checks a mix start's recordingConfig: transcodingConfig with
// Agora's defaults for what is left out, and audioProfile. videoOff
// (streamTypes 0) makes an audio-only composite; with streamTypes 1 the
// recorder drops the sound and the composite's stays silent.
func checkMix(rc *recordingConfig, videoOff bool) (*mixSettings, *apiError) {
	ms := &mixSettings{audio: audioProfiles[0]}
	if rc.AudioProfile != nil {
		if *rc.AudioProfile < 0 || *rc.AudioProfile >= len(audioProfiles) {
			return nil, invalid("recordingConfig.audioProfile must be 0, 1 or 2")
		}
		ms.audio = audioProfiles[*rc.AudioProfile]
	}
	tc := rc.TranscodingConfig
	if tc == nil {
		tc = &transcodingConfig{}
	}
	// The official clients send 0 for what the caller left out: 0 means
	// the default, as it does at Agora.
	pick := func(name string, v *int, def, lo, hi int) (int, *apiError) {
		if v == nil || *v == 0 {
			return def, nil
		}
		if *v < lo || *v > hi {
			return 0, invalid(fmt.Sprintf("recordingConfig.transcodingConfig.%s must be %d to %d", name, lo, hi))
		}
		return *v, nil
	}
	w, e := pick("width", tc.Width, defaultMixWidth, 16, mixproto.MaxSide)
	if e != nil {
		return nil, e
	}
	h, e := pick("height", tc.Height, defaultMixHeight, 16, mixproto.MaxSide)
	if e != nil {
		return nil, e
	}
	if w*h > mixproto.MaxPixels {
		return nil, invalid(fmt.Sprintf("recordingConfig.transcodingConfig: %dx%d is more than 1920x1080 pixels", w, h))
	}
	fps, e := pick("fps", tc.FPS, defaultMixFPS, 1, mixproto.MaxFPS)
	if e != nil {
		return nil, e
	}
	br, e := pick("bitrate", tc.Bitrate, defaultMixBitrate, 1, 100000)
	if e != nil {
		return nil, e
	}
	// Odd sides cannot be encoded in 4:2:0; Agora rounds them too.
	w, h = w&^1, h&^1
	lc, e := checkLayout("recordingConfig.transcodingConfig.", &tc.layoutFields, w, h)
	if e != nil {
		return nil, e
	}
	ms.layout = lc
	if !videoOff {
		ms.canvas = &mixproto.VideoConfig{Width: w, Height: h, FPS: fps, BitrateKbps: br}
	}
	return ms, nil
}

// checkLayout turns layout fields (of start or of updateLayout) into a
// layout on a w x h canvas. Fields left out take Agora's defaults: each
// updateLayout replaces the whole layout.
func checkLayout(where string, f *layoutFields, w, h int) (layout.Config, *apiError) {
	cfg := layout.Config{Width: w, Height: h, Mode: layout.Floating}
	if f == nil {
		return cfg, nil
	}
	// Pictures are fetched by nobody yet: ars makes no request to a URL
	// a caller names until image fetching has its own outbound checks.
	switch {
	case f.BackgroundImage != "":
		return cfg, invalid(where + "backgroundImage: background images are not supported by ars yet")
	case f.DefaultUserBackgroundImage != "":
		return cfg, invalid(where + "defaultUserBackgroundImage: background images are not supported by ars yet")
	case len(f.BackgroundConfig) > 0:
		return cfg, invalid(where + "backgroundConfig: background images are not supported by ars yet")
	}
	if f.MixedVideoLayout != nil {
		cfg.Mode = layout.Mode(*f.MixedVideoLayout)
	}
	if f.MaxResolutionUID != "" {
		if _, e := checkUID(f.MaxResolutionUID); e != nil {
			return cfg, invalid(where + "maxResolutionUid must be a string holding an integer from 1 to 4294967295")
		}
		cfg.MaxResolutionUID = f.MaxResolutionUID
	}
	if f.BackgroundColor != "" {
		c, err := layout.ParseColor(f.BackgroundColor)
		if err != nil {
			return cfg, invalid(where + "backgroundColor must be #RRGGBB")
		}
		cfg.Background = c
	}
	for i, r := range f.LayoutConfig {
		if r.UID != "" {
			if _, e := checkUID(r.UID); e != nil {
				return cfg, invalid(fmt.Sprintf("%slayoutConfig[%d].uid must be a string holding an integer from 1 to 4294967295", where, i))
			}
		}
		reg, err := r.Region()
		if err != nil {
			return cfg, invalid(fmt.Sprintf("%slayoutConfig[%d]: %s", where, i, strings.TrimPrefix(err.Error(), "layout: invalid layout: ")))
		}
		cfg.Regions = append(cfg.Regions, reg)
	}
	if cfg.Mode == layout.Custom && len(cfg.Regions) == 0 {
		return cfg, invalid(where + "layoutConfig is required with mixedVideoLayout 3")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, invalid(where + err.Error())
	}
	return cfg, nil
}
