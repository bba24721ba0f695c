package mixproto

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

func goodWeb() WebConfig {
	return WebConfig{URL: "https://example.com/lesson?id=1", Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000,
		ReadyTimeoutSec: 10, OutDir: "/rec", HLS: &HLSOutput{Prefix: "sid_cname", SegmentSeconds: 2},
		MP4: &MP4Output{Pattern: "sid_cname_%d.mp4", MaxSeconds: 60}}
}

func TestWebConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*WebConfig)
		ok   bool
	}{
		{"good", func(*WebConfig) {}, true},
		{"ftp", func(c *WebConfig) { c.URL = "ftp://example.com/" }, false},
		{"file", func(c *WebConfig) { c.URL = "file:///etc/passwd" }, false},
		{"javascript", func(c *WebConfig) { c.URL = "javascript:alert(1)" }, false},
		{"credentials", func(c *WebConfig) { c.URL = "http://u:p@example.com/" }, false},
		{"control", func(c *WebConfig) { c.URL = "http://example.com/\n--flag" }, false},
		{"odd width", func(c *WebConfig) { c.Width = 1279 }, false},
		{"too big", func(c *WebConfig) { c.Width, c.Height = 1920, 1920 }, false},
		{"fps", func(c *WebConfig) { c.FPS = 61 }, false},
		{"profile", func(c *WebConfig) { c.AudioProfile = 3 }, false},
		{"profile 2", func(c *WebConfig) { c.AudioProfile = 2 }, true},
		{"no ready timeout", func(c *WebConfig) { c.ReadyTimeoutSec = 0 }, false},
		{"relative dir", func(c *WebConfig) { c.OutDir = "rec" }, false},
		{"no output", func(c *WebConfig) { c.HLS, c.MP4 = nil, nil }, false},
		{"bad prefix", func(c *WebConfig) { c.HLS.Prefix = "../x" }, false},
		{"negative memory", func(c *WebConfig) { c.MemoryLimitMB = -1 }, false},
		{"rtmp", func(c *WebConfig) { c.RTMP = []string{"rtmp://live.example.com/app/key"} }, true},
		{"rtmp http", func(c *WebConfig) { c.RTMP = []string{"http://live.example.com/app/key"} }, false},
		{"rtmp space", func(c *WebConfig) { c.RTMP = []string{"rtmp://live.example.com/app/key live=1"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodWeb()
			tt.mod(&c)
			err := c.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Fatalf("error %v is not ErrBadConfig", err)
			}
		})
	}
	if a := (&WebConfig{AudioProfile: 2}).Audio(); a.Channels != 2 || a.BitrateKbps != 192 {
		t.Fatalf("profile 2 = %+v", a)
	}
}

// FuzzWebConfig: whatever JSON a (compromised) daemon sends, a config
// that validates has an http(s) URL and a sane picture.
func FuzzWebConfig(f *testing.F) {
	b, _ := json.Marshal(goodWeb())
	f.Add(b)
	f.Add([]byte(`{"url":"http://[::1]:80/","width":16,"height":16,"fps":1,"bitrateKbps":50,"readyTimeoutSec":1,"outDir":"/a","mp4":{"pattern":"a.mp4"}}`))
	f.Add([]byte(`{"hold":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c WebConfig
		if Decode(b, &c) != nil || c.Validate() != nil {
			var h WebHold
			_ = Decode(b, &h)
			return
		}
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			t.Fatalf("url %q accepted", c.URL)
		}
		if c.Width%2 != 0 || c.Width*c.Height > MaxPixels || c.FPS < 1 || c.FPS > 60 {
			t.Fatalf("picture %+v accepted", c)
		}
	})
}
