package mixproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	cfg := Config{Live: true, Audio: AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48}, OutDir: "/x",
		MP4: &MP4Output{Pattern: "a.mp4"}}
	if err := w.WriteJSON(TypeConfig, cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMedia(TypeVideo, Media{Source: 7, PTS: -5, Flags: FlagKey, Data: []byte{0, 0, 0, 1, 0x65}}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(TypeEnd, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	f, err := r.ReadFrame()
	if err != nil || f.Type != TypeConfig {
		t.Fatalf("config: %v %v", f.Type, err)
	}
	var got Config
	if err := Decode(f.Body, &got); err != nil || !got.Live || got.MP4 == nil || got.MP4.Pattern != "a.mp4" {
		t.Fatalf("config body: %+v %v", got, err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	f, err = r.ReadFrame()
	if err != nil || f.Type != TypeVideo {
		t.Fatalf("video: %v %v", f.Type, err)
	}
	m, err := ParseMedia(f.Body)
	if err != nil || m.Source != 7 || m.PTS != -5 || m.Flags != FlagKey || !bytes.Equal(m.Data, []byte{0, 0, 0, 1, 0x65}) {
		t.Fatalf("media: %+v %v", m, err)
	}
	f, err = r.ReadFrame()
	if err != nil || f.Type != TypeEnd || len(f.Body) != 0 {
		t.Fatalf("end: %v %v", f.Type, err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
}

func TestReaderRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"unknown type": {[]byte{99, 0, 0, 0, 0}, ErrUnknownType},
		"too large":    {[]byte{byte(TypeVideo), 0x7f, 0, 0, 0}, ErrFrameTooLarge},
		"cut header":   {[]byte{byte(TypeVideo), 0}, io.ErrUnexpectedEOF},
		"cut body":     {[]byte{byte(TypeVideo), 0, 0, 0, 4, 1}, io.ErrUnexpectedEOF},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.in)).ReadFrame()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseMedia([]byte{1, 2}); !errors.Is(err, ErrShortBody) {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Video: &VideoConfig{Width: 640, Height: 360, FPS: 15, BitrateKbps: 500},
			Audio: AudioConfig{Rate: 48000, Channels: 2, BitrateKbps: 192}, OutDir: "/rec",
			HLS: &HLSOutput{Prefix: "sid_c", SegmentSeconds: 10}, MP4: &MP4Output{Pattern: "sid_c_%d.mp4", MaxBytes: 1 << 30},
			Layout: Layout{Background: 0x102030, Windows: []Window{{Source: 1, X: 0, Y: 0, W: 320, H: 360, Alpha: 1}}}}
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"canvas too big":   func(c *Config) { c.Video.Width, c.Video.Height = 1920, 1200 },
		"portrait ok size": nil,
		"relative dir":     func(c *Config) { c.OutDir = "rec" },
		"slash in prefix":  func(c *Config) { c.HLS.Prefix = "../x" },
		"split no index":   func(c *Config) { c.MP4.Pattern = "x.mp4" },
		"window outside":   func(c *Config) { c.Layout.Windows[0].X = 400 },
		"too many windows": func(c *Config) { c.Layout.Windows = make([]Window, 18) },
		"bad alpha":        func(c *Config) { c.Layout.Windows[0].Alpha = 2 },
		"no output":        func(c *Config) { c.HLS, c.MP4 = nil, nil },
		"audio rate":       func(c *Config) { c.Audio.Rate = 44100 },
		"pct in fixed":     func(c *Config) { c.MP4 = &MP4Output{Pattern: "%s.mp4"} },
	} {
		t.Run(name, func(t *testing.T) {
			c := good()
			if mut == nil {
				c.Video.Width, c.Video.Height = 1080, 1920
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
				return
			}
			mut(&c)
			if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
