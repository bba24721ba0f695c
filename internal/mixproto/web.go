package mixproto

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
)

// The web page recorder role (ars-mixer --web-recorder): the daemon sends
// TypeWebConfig once, then any number of TypeWebHold, then TypeEnd. The
// recorder answers TypeReady once the page has drawn (or TypeError and a
// non-zero exit when it has not within ReadyTimeoutSec), TypeFileClosed
// per output file, TypeProgress about every 500 ms, TypeDone after the
// end. PTS are ns of the recording's running time, 0 at the pipeline's
// start; held time and the time before the page was ready are gaps in it.
const (
	TypeWebConfig Type = 13 // WebConfig, JSON; the first frame, exactly once
	TypeWebHold   Type = 14 // WebHold, JSON

	// TypeWebRTMPStatus reports one RTMP output's state (recorder to
	// daemon): WebRTMPStatus, JSON.
	TypeWebRTMPStatus Type = 74
)

// RTMP output states (Agora's rtmp_publish_service states, simplified).
const (
	RTMPConnecting = "connecting" // the branch is starting
	RTMPPublishing = "publishing" // a second of media has been sent
	RTMPFailed     = "failed"     // the push stopped; the recording goes on
)

// MaxRTMPOutputs bounds the push targets of one web recording.
const MaxRTMPOutputs = 10

// WebRTMPStatus is one RTMP output's new state.
type WebRTMPStatus struct {
	URL     string `json:"rtmpUrl"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Limits of the web recorder's config.
const (
	MaxWebURL          = 2048
	MaxReadyTimeoutSec = 120
	// MaxWebDurationSec is Agora's maxRecordingHour bound (720 h).
	MaxWebDurationSec = 720 * 3600
)

// WebConfig is what a web recorder records and where it writes it.
type WebConfig struct {
	URL         string `json:"url"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	FPS         int    `json:"fps"`
	BitrateKbps int    `json:"bitrateKbps"`
	// AudioProfile is Agora's: 0 48 kHz mono 48 kbit/s, 1 48 kHz mono
	// 128 kbit/s, 2 48 kHz stereo 192 kbit/s.
	AudioProfile int `json:"audioProfile"`
	// ReadyTimeoutSec bounds how long the page may take to draw its
	// first non-uniform picture (the recorder's readiness heuristic).
	ReadyTimeoutSec int `json:"readyTimeoutSec"`
	// MaxDurationSec ends the recording (finalised) after this long; 0:
	// no bound but the daemon's.
	MaxDurationSec int `json:"maxDurationSec"`
	// Hold starts the recording on hold (Agora's onhold at start).
	Hold bool `json:"hold"`
	// AllowList is netguard's allow-list (netguard.ParseAllowList) the
	// recorder's egress proxy applies to every connection of the page.
	AllowList string `json:"allowList,omitempty"`
	// SelfPorts are the daemon's own TCP ports: refused on any local
	// address, allow-list or not.
	SelfPorts []uint16 `json:"selfPorts,omitempty"`
	// SelfIPs are the addresses the daemon is known by besides its
	// interfaces' (ARS_BIND, ARS_PUBLIC_IP): SelfPorts are refused there too.
	SelfIPs []netip.Addr `json:"selfIps,omitempty"`
	// MemoryLimitMB caps the memory (PSS, sampled every second) of the
	// browser's process tree; over it the recording fails. 0: 1024.
	MemoryLimitMB int `json:"memoryLimitMb,omitempty"`

	// RTMP are push targets (rtmp:// or rtmps://): the same H.264 and
	// AAC, in FLV. A failing target is reported (TypeWebRTMPStatus) and
	// dropped; the recording goes on.
	RTMP []string `json:"rtmp,omitempty"`

	OutDir string     `json:"outDir"`
	HLS    *HLSOutput `json:"hls,omitempty"`
	MP4    *MP4Output `json:"mp4,omitempty"`
}

// CheckRTMPURL checks an RTMP push target's form (not its address).
func CheckRTMPURL(raw string) (*url.URL, error) {
	if len(raw) > MaxWebURL || strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("%w: rtmp url too long or with spaces or control characters", ErrBadConfig)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Hostname() == "" || u.User != nil {
		return nil, fmt.Errorf("%w: %q is not an rtmp(s) URL without credentials", ErrBadConfig, raw)
	}
	return u, nil
}

// WebHold holds (no media reaches the outputs: a gap) or resumes.
type WebHold struct {
	Hold bool `json:"hold"`
}

// Audio returns the AAC encoding of the config's audio profile.
func (c *WebConfig) Audio() AudioConfig {
	switch c.AudioProfile {
	case 1:
		return AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 128}
	case 2:
		return AudioConfig{Rate: 48000, Channels: 2, BitrateKbps: 192}
	default:
		return AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48}
	}
}

// MemoryLimit is the browser tree's memory (PSS) cap in bytes.
func (c *WebConfig) MemoryLimit() int64 {
	if c.MemoryLimitMB <= 0 {
		return 1024 << 20
	}
	return int64(c.MemoryLimitMB) << 20
}

// Validate checks a WebConfig before the recorder starts anything. The
// URL's target is not checked here (no network): the daemon checks it
// (webrun.CheckURL) and the recorder's proxy checks every connection.
func (c *WebConfig) Validate() error {
	if len(c.URL) > MaxWebURL || strings.ContainsFunc(c.URL, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: url too long or with control characters", ErrBadConfig)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: url %q is not an http(s) URL without credentials", ErrBadConfig, c.URL)
	}
	// Chromium's width and height must be even for the I420 encoder.
	if c.Width < 16 || c.Height < 16 || c.Width > MaxSide || c.Height > MaxSide || c.Width*c.Height > MaxPixels || c.Width%2 != 0 || c.Height%2 != 0 {
		return fmt.Errorf("%w: page %dx%d (even, 16..1920 a side, at most 1920x1080 pixels)", ErrBadConfig, c.Width, c.Height)
	}
	if c.FPS < 1 || c.FPS > 60 {
		return fmt.Errorf("%w: fps %d", ErrBadConfig, c.FPS)
	}
	if c.BitrateKbps < 50 || c.BitrateKbps > 20000 {
		return fmt.Errorf("%w: bitrate %d kbit/s", ErrBadConfig, c.BitrateKbps)
	}
	if c.AudioProfile < 0 || c.AudioProfile > 2 {
		return fmt.Errorf("%w: audio profile %d", ErrBadConfig, c.AudioProfile)
	}
	if c.ReadyTimeoutSec < 1 || c.ReadyTimeoutSec > MaxReadyTimeoutSec {
		return fmt.Errorf("%w: ready timeout %d s (1..%d)", ErrBadConfig, c.ReadyTimeoutSec, MaxReadyTimeoutSec)
	}
	if c.MaxDurationSec < 0 || c.MaxDurationSec > MaxWebDurationSec {
		return fmt.Errorf("%w: max duration %d s", ErrBadConfig, c.MaxDurationSec)
	}
	if c.MemoryLimitMB < 0 || c.MemoryLimitMB > 64<<10 || len(c.SelfPorts) > 64 || len(c.SelfIPs) > 64 || len(c.AllowList) > 4096 {
		return fmt.Errorf("%w: limits", ErrBadConfig)
	}
	if len(c.RTMP) > MaxRTMPOutputs {
		return fmt.Errorf("%w: %d rtmp outputs (at most %d)", ErrBadConfig, len(c.RTMP), MaxRTMPOutputs)
	}
	for _, r := range c.RTMP {
		if _, err := CheckRTMPURL(r); err != nil {
			return err
		}
	}
	// The outputs are the compositor's: the same checks.
	oc := Config{OutDir: c.OutDir, HLS: c.HLS, MP4: c.MP4, Audio: c.Audio(),
		Video: &VideoConfig{Width: c.Width, Height: c.Height, FPS: c.FPS, BitrateKbps: c.BitrateKbps}}
	if !filepath.IsAbs(c.OutDir) {
		return fmt.Errorf("%w: output directory %q is not absolute", ErrBadConfig, c.OutDir)
	}
	return oc.Validate()
}
